//! Streaming AES-256-CTR decryption with the HMAC-SHA256 check of ocicrypt's
//! `AES_256_CTR_HMAC_SHA256` layer cipher: the HMAC (keyed with the layer's
//! symmetric key) covers the whole ciphertext and is compared, in constant
//! time, when the ciphertext ends. The counter block is the 16-byte nonce,
//! incremented as one 128-bit big-endian number (Go's `cipher.NewCTR`).

use std::io::{self, Read};

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::LayerKey;
use crate::Error;

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

enum State {
    Reading,
    Done,
    Failed(String),
}

/// Holds only the caller's buffer's worth of data at a time. The AES key
/// schedule and counter are zeroized on drop (`aes`/`ctr` `zeroize`
/// features); the HMAC's inner/outer hash states, derived from the key, are
/// not (the `hmac` crate offers no zeroizing drop).
struct DecryptingReader<'a> {
    inner: Box<dyn Read + Send + 'a>,
    cipher: Aes256Ctr,
    mac: Hmac<Sha256>,
    expected_mac: [u8; 32],
    state: State,
}

/// Decrypts `inner` (the encrypted blob) with `key` as it is read. At the end
/// of `inner` it checks the HMAC over the ciphertext; a mismatch is an
/// `io::Error` of kind `InvalidData` wrapping [`Error::Decrypt`], returned by
/// that read and every later one. Everything read before that end is
/// unverified.
///
/// The `digest` of the private options is not checked: ocicrypt records the
/// digest of the layer as it was before encryption, and skopeo compresses an
/// uncompressed layer before encrypting it, so it is not in general the
/// digest of what decrypts (see [`LayerKey::original_digest`]).
pub fn decrypting_reader<'a>(key: LayerKey, inner: Box<dyn Read + Send + 'a>) -> Box<dyn Read + Send + 'a> {
    let cipher = Aes256Ctr::new(key.symkey.as_ref().into(), (&key.nonce).into());
    let mac = <Hmac<Sha256> as Mac>::new_from_slice(key.symkey.as_ref()).expect("HMAC accepts keys of any length");
    Box::new(DecryptingReader { inner, cipher, mac, expected_mac: key.hmac, state: State::Reading })
}

fn decrypt_error(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Error::Decrypt(message.to_string()))
}

impl DecryptingReader<'_> {
    fn finish(&mut self) -> Result<(), String> {
        if self.mac.clone().verify_slice(&self.expected_mac).is_err() {
            return Err("HMAC mismatch: the encrypted layer is not what was encrypted (tampered or truncated)".into());
        }
        Ok(())
    }
}

impl Read for DecryptingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.state {
            State::Failed(message) => return Err(decrypt_error(message)),
            State::Done => return Ok(0),
            State::Reading => {}
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = loop {
            match self.inner.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return match self.finish() {
                Ok(()) => {
                    self.state = State::Done;
                    Ok(0)
                }
                Err(message) => {
                    let e = decrypt_error(&message);
                    self.state = State::Failed(message);
                    Err(e)
                }
            };
        }
        let chunk = &mut buf[..n];
        self.mac.update(chunk);
        if self.cipher.try_apply_keystream(chunk).is_err() {
            // Unreachable with a 128-bit counter (it wraps like Go's), but
            // untrusted input must not reach a panic.
            let message = "AES-CTR keystream exhausted".to_string();
            self.state = State::Failed(message.clone());
            return Err(decrypt_error(&message));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    /// Encrypts like ocicrypt: AES-256-CTR, HMAC-SHA256 of the ciphertext.
    fn encrypt(key: &[u8; 32], nonce: &[u8; 16], plain: &[u8]) -> (Vec<u8>, [u8; 32]) {
        let mut data = plain.to_vec();
        Aes256Ctr::new(key.into(), nonce.into()).apply_keystream(&mut data);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(&data);
        (data, mac.finalize().into_bytes().into())
    }

    fn layer_key(key: [u8; 32], nonce: [u8; 16], hmac: [u8; 32], digest: Option<String>) -> LayerKey {
        LayerKey { symkey: Zeroizing::new(key), nonce, hmac, digest }
    }

    /// A reader that hands out at most 7 bytes per call, to cross block boundaries.
    struct Dribble(Vec<u8>, usize);
    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    #[test]
    fn round_trip_checks_hmac() {
        let plain: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        // A nonce near the top of the counter space: the counter must wrap.
        let nonce = [0xff; 16];
        let (ct, mac) = encrypt(&[3; 32], &nonce, &plain);
        let mut out = Vec::new();
        decrypting_reader(layer_key([3; 32], nonce, mac, None), Box::new(Dribble(ct.clone(), 0)))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);

        let mut bad = ct.clone();
        bad[5000] ^= 1;
        let mut r = decrypting_reader(layer_key([3; 32], nonce, mac, None), Box::new(io::Cursor::new(bad)));
        let e = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("HMAC mismatch"), "{e}");
        assert!(r.read(&mut [0; 8]).is_err(), "the failure sticks");

        let truncated = ct[..ct.len() - 1].to_vec();
        let e = decrypting_reader(layer_key([3; 32], nonce, mac, None), Box::new(io::Cursor::new(truncated)))
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(e.to_string().contains("HMAC mismatch"), "{e}");

        let e = decrypting_reader(layer_key([4; 32], nonce, mac, None), Box::new(io::Cursor::new(ct)))
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(e.to_string().contains("HMAC mismatch"), "another key: {e}");
    }

    /// Yields `len` bytes of ciphertext made on the fly (the keystream of a
    /// zero plaintext) and records the largest read it was asked for.
    struct Generated {
        cipher: Aes256Ctr,
        mac: Option<Hmac<Sha256>>,
        left: u64,
        largest_request: usize,
    }

    impl Read for Generated {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.largest_request = self.largest_request.max(buf.len());
            let n = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
            buf[..n].fill(0);
            self.cipher.apply_keystream(&mut buf[..n]);
            if let Some(mac) = &mut self.mac {
                mac.update(&buf[..n]);
            }
            self.left -= n as u64;
            Ok(n)
        }
    }

    /// The reader passes the caller's buffer through: it asks its inner reader
    /// for no more than it was asked, whatever the layer's size.
    #[test]
    fn streams_without_buffering() {
        let (key, nonce) = ([6u8; 32], [1u8; 16]);
        let len = 3 << 20;
        // First pass: the HMAC of the generated ciphertext.
        let mut gen = Generated {
            cipher: Aes256Ctr::new((&key).into(), (&nonce).into()),
            mac: Some(<Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap()),
            left: len,
            largest_request: 0,
        };
        io::copy(&mut gen, &mut io::sink()).unwrap();
        let mac: [u8; 32] = gen.mac.take().unwrap().finalize().into_bytes().into();

        struct Shared(std::sync::Arc<std::sync::Mutex<Generated>>);
        impl Read for Shared {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.lock().unwrap().read(buf)
            }
        }
        let inner = std::sync::Arc::new(std::sync::Mutex::new(Generated {
            cipher: Aes256Ctr::new((&key).into(), (&nonce).into()),
            mac: None,
            left: len,
            largest_request: 0,
        }));
        let mut reader = decrypting_reader(layer_key(key, nonce, mac, None), Box::new(Shared(inner.clone())));
        let mut buf = vec![0u8; 8192];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            assert!(buf[..n].iter().all(|&b| b == 0), "decrypts to the zero plaintext");
            total += n as u64;
        }
        assert_eq!(total, len);
        assert!(inner.lock().unwrap().largest_request <= 8192);
    }

    #[test]
    fn empty_layer_and_empty_buffers() {
        let (ct, mac) = encrypt(&[1; 32], &[0; 16], b"");
        let mut r = decrypting_reader(layer_key([1; 32], [0; 16], mac, None), Box::new(io::Cursor::new(ct)));
        assert_eq!(r.read(&mut []).unwrap(), 0);
        assert_eq!(r.read(&mut [0; 4]).unwrap(), 0);
        assert_eq!(r.read(&mut [0; 4]).unwrap(), 0);
        let mut r = decrypting_reader(layer_key([1; 32], [0; 16], [0; 32], None), Box::new(io::empty()));
        assert!(r.read(&mut [0; 4]).is_err(), "an empty stream is still HMAC-checked");
    }
}
