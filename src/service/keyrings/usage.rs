//! What callers do with a keyring: encrypt, decrypt, rewrap and data keys.

use super::*;

impl Service {
    pub async fn encrypt(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<EncryptOutput, Error> {
        self.read_counted(ctx, &catalogue::ENCRYPT, ring, Some(&object(ring)), async {
            let state = self
                .load_keyring(ctx.caller, ring, &catalogue::ENCRYPT)
                .await?;
            let out = self.seal(&state, plaintext, context).await?;
            let usage = (state.row.id.clone(), out.key_version);
            Ok((out, usage))
        })
        .await
    }

    pub async fn decrypt(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        ciphertext: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<DecryptOutput, Error> {
        self.read(ctx, &catalogue::DECRYPT, ring, Some(&object(ring)), async {
            self.open_current(ctx, ring, &catalogue::DECRYPT, ciphertext, context)
                .await
        })
        .await
    }

    /// Decrypts and re-encrypts under the current version; the plaintext never leaves.
    pub async fn rewrap(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        ciphertext: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<EncryptOutput, Error> {
        self.read_counted(ctx, &catalogue::REWRAP, ring, Some(&object(ring)), async {
            let opened = self
                .open_current(ctx, ring, &catalogue::REWRAP, ciphertext, context)
                .await?;
            let state = self
                .load_keyring(ctx.caller, ring, &catalogue::REWRAP)
                .await?;
            let out = self.seal(&state, &opened.plaintext, context).await?;
            let usage = (state.row.id.clone(), out.key_version);
            Ok((out, usage))
        })
        .await
    }

    /// A fresh random data key, returned in plaintext and sealed by the keyring.
    pub async fn datakey(
        &self,
        ctx: &Ctx<'_>,
        ring: &str,
        bytes: u32,
        context: &BTreeMap<String, String>,
    ) -> Result<DataKeyOutput, Error> {
        self.read_counted(ctx, &catalogue::DATAKEY, ring, Some(&object(ring)), async {
            if !DATAKEY_BYTES.contains(&bytes) {
                return Err(Error::InvalidInput(format!(
                    "bytes must be between {} and {}",
                    DATAKEY_BYTES.start(),
                    DATAKEY_BYTES.end()
                )));
            }
            let state = self
                .load_keyring(ctx.caller, ring, &catalogue::DATAKEY)
                .await?;
            let plaintext = crypto::random_bytes(bytes as usize);
            let sealed = self.seal(&state, &plaintext, context).await?;
            let usage = (state.row.id.clone(), sealed.key_version);
            let output = DataKeyOutput {
                plaintext,
                ciphertext: sealed.ciphertext,
                key_version: sealed.key_version,
            };
            Ok((output, usage))
        })
        .await
    }
}
