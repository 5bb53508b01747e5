# Resource policy: release nothing.
package policy

default allow := false
