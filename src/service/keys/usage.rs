//! What callers do with a key: read its public key, sign, verify, decrypt.

use super::*;

/// What the token signs: `DigestInfo || digest` for PKCS#1 v1.5 (`CKM_RSA_PKCS` adds only
/// the padding), the digest for PSS and ECDSA, the message for Ed25519.
pub(in crate::service) fn token_input(scheme: SignatureScheme, data: Vec<u8>) -> Vec<u8> {
    match scheme {
        SignatureScheme::RsaPkcs1(hash) => [hash.digest_info_prefix(), &data].concat(),
        _ => data,
    }
}

/// The token's signature in the wire encoding (ECDSA: DER or raw r || s).
pub(in crate::service) fn finish_signature(
    scheme: SignatureScheme,
    raw: Vec<u8>,
    encoding: EcdsaEncoding,
) -> Result<Vec<u8>, String> {
    match scheme {
        SignatureScheme::Ecdsa(curve) => encode_ecdsa(curve, &raw, encoding)
            .ok_or_else(|| format!("the token returned a {}-byte ECDSA signature", raw.len())),
        _ => Ok(raw),
    }
}

impl Service {
    pub async fn public_key(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        version: Option<u32>,
    ) -> Result<PublicKeyOutput, Error> {
        self.read(
            ctx,
            &catalogue::PUBLIC_KEY,
            name,
            Some(&object(name)),
            async {
                let state = self
                    .load_key(ctx.caller, name, &catalogue::PUBLIC_KEY)
                    .await?;
                let (row, public) = match version {
                    Some(v) => state.version(v).ok_or_else(|| state.no_version(v))?,
                    None => state.current()?,
                };
                Ok(PublicKeyOutput {
                    key_version: row.version,
                    algorithm: state.algorithm,
                    pem: public.to_pem(),
                    jwk: public.to_jwk(&format!("{}.v{}", state.row.id, row.version)),
                })
            },
        )
        .await
    }

    pub async fn sign(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        input: SignInput,
    ) -> Result<SignOutput, Error> {
        self.read(ctx, &catalogue::SIGN, name, Some(&object(name)), async {
            let state = self.load_key(ctx.caller, name, &catalogue::SIGN).await?;
            state.usable()?;
            if !state.row.can_sign {
                return Err(Error::UsageNotAllowed(format!(
                    "key {name} cannot sign: {}",
                    if state.row.kind == KeyKind::PublicKey {
                        "it is an imported public key (verify only)"
                    } else {
                        "it was created without the sign usage"
                    }
                )));
            }
            let scheme = SignatureScheme::for_key(state.algorithm, input.algorithm.as_deref())
                .map_err(Error::InvalidInput)?;
            let encoding = EcdsaEncoding::parse(input.signature_format.as_deref())
                .map_err(Error::InvalidInput)?;
            let data = input.data.digest_for(scheme).map_err(Error::InvalidInput)?;
            let (version, _) = state.current()?;
            let signature = self.sign_in_token(version, scheme, data, encoding).await?;
            Ok(SignOutput {
                signature,
                key_version: version.version,
                algorithm: scheme.name(),
            })
        })
        .await
    }

    /// Signs `data` (a digest, or the message for Ed25519) with one version's private key.
    async fn sign_in_token(
        &self,
        version: &KeyVersionRow,
        scheme: SignatureScheme,
        data: Vec<u8>,
        encoding: EcdsaEncoding,
    ) -> Result<Vec<u8>, Error> {
        let label = token_label(version)?;
        let raw = self
            .hsm
            .sign(
                label,
                SignMechanism::for_scheme(scheme),
                token_input(scheme, data),
            )
            .await?;
        finish_signature(scheme, raw, encoding).map_err(|e| Error::Internal(e.into()))
    }

    pub async fn verify(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        input: VerifyInput,
    ) -> Result<VerifyOutput, Error> {
        self.read(ctx, &catalogue::VERIFY, name, Some(&object(name)), async {
            let state = self.load_key(ctx.caller, name, &catalogue::VERIFY).await?;
            state.usable()?;
            if state.row.kind == KeyKind::KeyPair && !state.row.can_sign {
                return Err(Error::UsageNotAllowed(format!(
                    "key {name} is a decryption key; it neither signs nor verifies"
                )));
            }
            let scheme = SignatureScheme::for_key(state.algorithm, input.algorithm.as_deref())
                .map_err(Error::InvalidInput)?;
            let encoding = EcdsaEncoding::parse(input.signature_format.as_deref())
                .map_err(Error::InvalidInput)?;
            // A digest of the wrong length (or for Ed25519) is bad input, whichever version
            // would have matched.
            if let SignedData::Digest(_) = &input.data {
                input.data.digest_for(scheme).map_err(Error::InvalidInput)?;
            }
            let candidates: Vec<&(KeyVersionRow, PublicKey)> = match input.version {
                Some(v) => vec![state.live_version(v)?],
                None => state
                    .versions
                    .iter()
                    .rev()
                    .filter(|(v, _)| v.version >= state.row.min_version)
                    .collect(),
            };
            let matched = candidates.into_iter().find(|(_, public)| {
                public
                    .verify_signed(scheme, &input.data, &input.signature, encoding)
                    .unwrap_or(false)
            });
            Ok(VerifyOutput {
                valid: matched.is_some(),
                key_version: matched.map(|(v, _)| v.version),
            })
        })
        .await
    }

    pub async fn decrypt_with_key(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        ciphertext: Vec<u8>,
        version: Option<u32>,
    ) -> Result<DecryptOutput, Error> {
        self.read(
            ctx,
            &catalogue::KEY_DECRYPT,
            name,
            Some(&object(name)),
            async {
                let state = self
                    .load_key(ctx.caller, name, &catalogue::KEY_DECRYPT)
                    .await?;
                state.usable()?;
                if !state.row.can_decrypt {
                    return Err(Error::UsageNotAllowed(format!(
                        "key {name} cannot decrypt: it was created without the decrypt usage"
                    )));
                }
                let (row, public) =
                    state.live_version(version.unwrap_or(state.row.current_version))?;
                let k = public
                    .rsa_len()
                    .ok_or_else(|| Error::Internal("decrypt key is not RSA".into()))?;
                if ciphertext.len() != k {
                    return Err(Error::InvalidInput(format!(
                        "an RSA-OAEP ciphertext for {} is {k} bytes; got {}",
                        state.algorithm.name(),
                        ciphertext.len()
                    )));
                }
                let block = self
                    .hsm
                    .rsa_decrypt_raw(token_label(row)?, ciphertext)
                    .await?;
                let plaintext = oaep_decode(&block, k).ok_or(Error::DecryptFailed)?;
                Ok(DecryptOutput {
                    plaintext,
                    key_version: row.version,
                })
            },
        )
        .await
    }
}
