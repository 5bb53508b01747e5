# Resource policy: release a resource only when every submodule of the
# attestation token (EAR) has the status "affirming", i.e. the attestation
# policy found the evidence and its reference values fully trustworthy.
package policy

import rego.v1

default allow := false

allow if {
	count(input.submods) > 0
	every _, submod in input.submods {
		submod["ear.status"] == "affirming"
	}
}
