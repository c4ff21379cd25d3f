//! RSA-OAEP decoding (SHA-256, MGF1-SHA-256, empty label). SoftHSM 2.6.1 only offers OAEP
//! with SHA-1, so Coffer runs `CKM_RSA_X_509` in the token and removes the SHA-256 OAEP
//! padding here: the one place outside the HSM that handles a private operation's output.

use sha2::Digest;
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

/// MGF1 with SHA-256 (RFC 8017, B.2.1), XORed into `out`.
fn mgf1_xor(seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in out.chunks_mut(32).enumerate() {
        let mut hasher = sha2::Sha256::new();
        hasher.update(seed);
        hasher.update((counter as u32).to_be_bytes());
        for (o, m) in chunk.iter_mut().zip(hasher.finalize()) {
            *o ^= m;
        }
    }
}

/// EME-OAEP decoding with SHA-256, MGF1-SHA-256 and an empty label (RFC 8017, 7.1.2,
/// steps 3a-3g), given the raw RSA output `em` of a `k`-byte modulus. Every check runs in
/// constant time and every failure is the same `None`, so a caller cannot learn which
/// check failed (Manger's attack).
pub fn oaep_decode(em: &[u8], k: usize) -> Option<Zeroizing<Vec<u8>>> {
    const H: usize = 32;
    if k < 2 * H + 2 || em.len() > k {
        return None;
    }
    // The token may drop leading zero bytes: restore the full k-byte block.
    let mut block = Zeroizing::new(vec![0u8; k]);
    block[k - em.len()..].copy_from_slice(em);
    let (y, rest) = block.split_first_mut().expect("k > 0");
    let (masked_seed, masked_db) = rest.split_at_mut(H);
    mgf1_xor(masked_db, masked_seed);
    mgf1_xor(masked_seed, masked_db);
    let db = masked_db;
    let label_hash = sha2::Sha256::digest([]);
    let mut good = y.ct_eq(&0) & db[..H].ct_eq(&label_hash[..]);
    let mut looking = subtle::Choice::from(1);
    let mut separator = 0u32;
    for (i, byte) in db[H..].iter().enumerate() {
        let is_one = byte.ct_eq(&1);
        let is_zero = byte.ct_eq(&0);
        separator.conditional_assign(&(i as u32), looking & is_one);
        good &= !(looking & !is_one & !is_zero);
        looking &= !is_one;
    }
    good &= !looking;
    if bool::from(good) {
        Some(Zeroizing::new(db[H + separator as usize + 1..].to_vec()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oaep_decoding_inverts_the_rsa_crates_encoding() {
        use rsa::traits::{PrivateKeyParts, PublicKeyParts};
        // Encrypt with an independent implementation, then undo RSA with the private key
        // (raw, as the token's CKM_RSA_X_509 does) and decode here.
        let mut rng = rsa::rand_core::OsRng;
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let public = private.to_public_key();
        let ct = public
            .encrypt(
                &mut rng,
                rsa::Oaep::new::<sha2::Sha256>(),
                b"attack at dawn",
            )
            .unwrap();
        let c = rsa::BigUint::from_bytes_be(&ct);
        let em = c.modpow(private.d(), private.n()).to_bytes_be();
        let k = public.size();
        assert_eq!(&oaep_decode(&em, k).unwrap()[..], b"attack at dawn");
        let mut tampered = em.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(oaep_decode(&tampered, k).is_none());
    }
}
