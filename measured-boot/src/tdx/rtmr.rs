//! Run-time measurement registers: events and the extend operation.
//!
//! An RTMR starts as 48 zero bytes and each event extends it:
//! `RTMR = SHA-384(RTMR || event digest)`. Firmware and the Linux EFI stub
//! log events by their UEFI CC measurement-register index; UEFI 2.10
//! §38.4.1 maps PCR 1 and 7 to RTMR\[0\], PCR 2–6 to RTMR\[1\] and PCR 8–15 to
//! RTMR\[2\].

use serde::Serialize;
use sha2::{Digest as _, Sha384};

use super::Sha384Digest;

/// One measured event: what it is and the digest extended into the RTMR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TdxEvent {
    /// TCG event type the log records (`EV_EFI_ACTION`, …).
    pub event_type: &'static str,
    /// What was measured.
    pub description: String,
    /// The SHA-384 digest extended.
    pub digest: Sha384Digest,
}

impl TdxEvent {
    /// An event whose digest is SHA-384 of `data`.
    pub fn of_data(event_type: &'static str, description: impl Into<String>, data: &[u8]) -> Self {
        Self { event_type, description: description.into(), digest: Sha384Digest(Sha384::digest(data).into()) }
    }
}

/// The register value after extending each event's digest in turn from 48
/// zero bytes.
pub fn replay(events: &[TdxEvent]) -> Sha384Digest {
    let mut rtmr = [0u8; 48];
    for event in events {
        let mut h = Sha384::new();
        h.update(rtmr);
        h.update(event.digest.0);
        rtmr = h.finalize().into();
    }
    Sha384Digest(rtmr)
}

/// `EV_EFI_ACTION` strings OVMF logs into RTMR\[1\] around starting the
/// kernel (edk2 `MdePkg/Include/Guid/TcgEventHob.h` names, `EFI_*` strings
/// from `UefiBootManagerLib` and `DxeCore`).
const CALLING_EFI_APPLICATION: &str = "Calling EFI Application from Boot Option";
const EXIT_BOOT_SERVICES_INVOCATION: &str = "Exit Boot Services Invocation";
const EXIT_BOOT_SERVICES_SUCCESS: &str = "Exit Boot Services Returned with Success";

/// RTMR\[1\] events of a direct kernel boot through OVMF: the kernel image
/// (its Authenticode digest), the boot-option action, the separator, and
/// the two ExitBootServices actions.
pub fn rtmr1_events(kernel_authenticode: [u8; 48]) -> Vec<TdxEvent> {
    vec![
        TdxEvent {
            event_type: "EV_EFI_BOOT_SERVICES_APPLICATION",
            description: "kernel: Authenticode SHA-384 of the image as QEMU patched it".into(),
            digest: Sha384Digest(kernel_authenticode),
        },
        TdxEvent::of_data("EV_EFI_ACTION", CALLING_EFI_APPLICATION, CALLING_EFI_APPLICATION.as_bytes()),
        TdxEvent::of_data("EV_SEPARATOR", "separator", &[0u8; 4]),
        TdxEvent::of_data("EV_EFI_ACTION", EXIT_BOOT_SERVICES_INVOCATION, EXIT_BOOT_SERVICES_INVOCATION.as_bytes()),
        TdxEvent::of_data("EV_EFI_ACTION", EXIT_BOOT_SERVICES_SUCCESS, EXIT_BOOT_SERVICES_SUCCESS.as_bytes()),
    ]
}

/// The LoadOptions string OVMF gives the kernel for a QEMU command line
/// and initrd: the command line, plus ` initrd=initrd` when QEMU passed a
/// non-empty initrd; `None` when both are absent (OVMF passes no options).
pub fn load_options(cmdline: Option<&str>, initrd_nonempty: bool) -> Option<String> {
    let mut options = cmdline.unwrap_or_default().to_owned();
    if initrd_nonempty {
        options.push_str(" initrd=initrd");
    }
    (!options.is_empty()).then_some(options)
}

/// The LoadOptions buffer as OVMF builds it: each byte of the (UTF-8)
/// string widened to a little-endian 16-bit unit, then a 16-bit NUL. OVMF
/// formats the fw_cfg command line with `%a`, which widens bytes rather
/// than decoding UTF-8; non-ASCII text is measured that way, too.
pub fn load_options_utf16(options: &str) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(2 * options.len() + 2);
    for byte in options.bytes() {
        buffer.extend_from_slice(&[byte, 0]);
    }
    buffer.extend_from_slice(&[0, 0]);
    buffer
}

/// RTMR\[2\] events the Linux EFI stub logs: the LoadOptions buffer (if
/// any) and the initrd it loads (if non-empty).
pub fn rtmr2_events(options: Option<&str>, initrd: Option<&[u8]>) -> Vec<TdxEvent> {
    let mut events = Vec::new();
    if let Some(options) = options {
        events.push(TdxEvent::of_data(
            "EV_EVENT_TAG",
            "kernel load options (UTF-16LE with NUL)",
            &load_options_utf16(options),
        ));
    }
    if let Some(initrd) = initrd.filter(|i| !i.is_empty()) {
        events.push(TdxEvent::of_data("EV_EVENT_TAG", "initrd", initrd));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_extends_from_zero() {
        assert_eq!(replay(&[]).0, [0u8; 48]);
        let e = TdxEvent::of_data("EV_SEPARATOR", "separator", &[0; 4]);
        let mut h = Sha384::new();
        h.update([0u8; 48]);
        h.update(e.digest.0);
        let once: [u8; 48] = h.finalize().into();
        assert_eq!(replay(std::slice::from_ref(&e)).0, once);
        assert_ne!(replay(&[e.clone(), e]).0, once);
    }

    #[test]
    fn load_options_follow_ovmf() {
        assert_eq!(load_options(None, false), None);
        assert_eq!(load_options(Some(""), false), None);
        assert_eq!(load_options(Some(""), true).as_deref(), Some(" initrd=initrd"));
        assert_eq!(load_options(Some("a "), true).as_deref(), Some("a  initrd=initrd"));
        assert_eq!(load_options_utf16("ab"), vec![b'a', 0, b'b', 0, 0, 0]);
        // Bytes are widened, not decoded: U+00E9 is two units here.
        assert_eq!(load_options_utf16("\u{e9}"), vec![0xc3, 0, 0xa9, 0, 0, 0]);
        assert!(rtmr2_events(None, Some(&[])).is_empty());
        assert_eq!(rtmr2_events(Some("x"), Some(&[1])).len(), 2);
    }
}
