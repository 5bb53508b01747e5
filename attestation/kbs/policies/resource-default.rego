# Arca default resource policy.
#
# Input: the claims of the EAR attestation token. Data: data.plugin
# ("resource"), data["resource-path"] (the path segments), data.query (the
# URL query), data.config.allow_sample_tee (bool).
#
# A resource is released only when every submod of the token is affirming.
# (trustee's built-in default also releases to contraindicated evidence; we
# do not.) Evidence from the sample TEE is refused unless the KBS allows the
# sample TEE. Each entry of `deny` starts with the name of the failed rule.
package policy

import rego.v1

default allow := false

allow if {
	count(object.get(input, "submods", {})) > 0
	count(deny) == 0
}

deny contains sprintf("plugin: only the resource plugin is served, found %v", [data.plugin]) if data.plugin != "resource"

deny contains "submods: the token has no submods" if count(object.get(input, "submods", {})) == 0

deny contains sprintf("affirming: submod %s has ear.status %v, expected affirming", [name, status]) if {
	some name, submod in input.submods
	status := object.get(submod, "ear.status", "missing")
	status != "affirming"
}

deny contains sprintf("sample-tee: submod %s is evidence of the sample TEE, which is not allowed", [name]) if {
	not data.config.allow_sample_tee == true
	some name, submod in input.submods
	submod["ear.veraison.annotated-evidence"].sample
}
