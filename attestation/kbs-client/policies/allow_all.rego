# Resource policy: release every resource to every attested caller.
# For development only: it ignores the attestation result.
package policy

default allow := true
