# Arca default attestation policy.
#
# Input: {"<tee>": <claims of arca-verifier>} for tee in snp, tdx, cca, se,
# sample. Data: data.reference = {name: [values]} (unexpired reference
# values), data.config.allow_sample_tee (bool).
#
# Output: trust_claims, the eight AR4SI trustworthiness claims, and reasons,
# one line per claim that is not affirming. The KBS derives ear.status from
# the claims by AR4SI tiers: -1..1 none, 2..31 affirming, 32..95 warning,
# 96..127 contraindicated; the status is the worst tier of the vector.
#
# Values used (AR4SI meaning):
#   executables   2  only approved executables loaded (measurements match reference values)
#                 3  approved boot executables (sample TEE, only when allowed)
#                33  executables not recognized (no matching reference value)  -> warning
#   hardware      2  genuine hardware, verified by arca-verifier
#                32  genuine but with known vulnerabilities (TDX TCB not UpToDate) -> warning
#                97  hardware not recognized (sample TEE, unmatched CCA platform) -> contraindicated
#   configuration 2  approved configuration (debug off)
#                36  configuration not available/recognized -> warning
#                96  unsafe configuration (debug enabled) -> contraindicated
#   the other five claims: 0 (no claim)
#
# So the sample TEE is contraindicated unless allow_sample_tee is set, and
# then it is affirming (3/2/2). Hardware TEEs are affirming only with
# reference values for their measurements.
package policy

import rego.v1

default executables := 33

default hardware := 97

default configuration := 36

default file_system := 0

default instance_identity := 0

default runtime_opaque := 0

default storage_opaque := 0

default sourced_data := 0

trust_claims := {
	"executables": executables,
	"hardware": hardware,
	"configuration": configuration,
	"file-system": file_system,
	"instance-identity": instance_identity,
	"runtime-opaque": runtime_opaque,
	"storage-opaque": storage_opaque,
	"sourced-data": sourced_data,
}

# Reference values by name, [] when there are none.
reference(name) := object.get(data.reference, name, [])

sample_allowed if data.config.allow_sample_tee == true

##### AMD SEV-SNP

executables := 2 if input.snp.measurement in reference("snp_launch_measurement")

# The report signature, VCEK/VLEK chain and reported TCB were verified.
hardware := 2 if input.snp

configuration := 2 if {
	input.snp.policy.debug_allowed == false
	input.snp.policy.migrate_ma == false
}

configuration := 96 if input.snp.policy.debug_allowed == true

reasons contains sprintf("executables: snp measurement %s is not in reference value snp_launch_measurement", [input.snp.measurement]) if {
	input.snp
	not input.snp.measurement in reference("snp_launch_measurement")
}

reasons contains "configuration: snp guest policy allows debugging" if input.snp.policy.debug_allowed == true

reasons contains "configuration: snp guest policy allows a migration agent" if {
	input.snp.policy.debug_allowed == false
	input.snp.policy.migrate_ma == true
}

##### Intel TDX

tdx_registers := [["mrtd", "mr_td"], ["rtmr1", "rtmr_1"], ["rtmr2", "rtmr_2"]]

executables := 2 if {
	input.tdx
	every pair in tdx_registers {
		input.tdx[pair[0]] in reference(pair[1])
	}
}

hardware := 2 if input.tdx.tcb_status == "UpToDate"

hardware := 32 if {
	input.tdx
	not input.tdx.tcb_status in {"UpToDate", "Revoked"}
}

hardware := 96 if input.tdx.tcb_status == "Revoked"

configuration := 2 if input.tdx.td_attributes.debug == false

configuration := 96 if input.tdx.td_attributes.debug == true

reasons contains sprintf("executables: tdx %s %s is not in reference value %s", [pair[0], input.tdx[pair[0]], pair[1]]) if {
	input.tdx
	some pair in tdx_registers
	not input.tdx[pair[0]] in reference(pair[1])
}

reasons contains sprintf("hardware: tdx TCB status is %s, expected UpToDate", [input.tdx.tcb_status]) if {
	input.tdx
	input.tdx.tcb_status != "UpToDate"
}

reasons contains "configuration: tdx TD attributes enable debugging" if input.tdx.td_attributes.debug == true

##### Arm CCA

executables := 2 if input.cca.realm.rim in reference("cca_rim")

# The platform token matched the CCA reference-value store.
hardware := 2 if input.cca.reference_values.matched == true

configuration := 2 if input.cca.platform.lifecycle.name == "secured"

reasons contains sprintf("executables: cca realm initial measurement %s is not in reference value cca_rim", [input.cca.realm.rim]) if {
	input.cca
	not input.cca.realm.rim in reference("cca_rim")
}

reasons contains "hardware: cca platform claims do not match the reference-value store" if {
	input.cca
	not input.cca.reference_values.matched == true
}

reasons contains sprintf("configuration: cca platform lifecycle is %v, expected secured", [input.cca.platform.lifecycle.name]) if {
	input.cca
	input.cca.platform.lifecycle.name != "secured"
}

##### IBM Secure Execution

se_digests := [["pld", "se_pld"], ["ald", "se_ald"], ["tld", "se_tld"]]

executables := 2 if {
	input.se
	every pair in se_digests {
		input.se[pair[0]] in reference(pair[1])
	}
}

# The attestation measurement (HMAC over the SE header tags) was verified.
hardware := 2 if input.se.measurement_verified == true

configuration := 2 if input.se

reasons contains sprintf("executables: se %s %s is not in reference value %s", [pair[0], input.se[pair[0]], pair[1]]) if {
	input.se
	some pair in se_digests
	not input.se[pair[0]] in reference(pair[1])
}

##### Sample TEE (software, no protection): only when the configuration allows it.

executables := 3 if {
	input.sample
	sample_allowed
}

hardware := 2 if {
	input.sample
	sample_allowed
}

configuration := 2 if {
	input.sample
	sample_allowed
}

reasons contains "sample-tee: the sample TEE is not allowed (attestation_service.allow_sample_tee = false)" if {
	input.sample
	not sample_allowed
}
