//! [`Hsm`] over PKCS#11 with the `cryptoki` crate: the attribute templates and mechanisms
//! of each operation. How calls reach the token (sessions, worker pools, deadlines,
//! recovery) is in `workers`.

use super::workers::{
    OpError, OpResult, Pool, PoolSettings, Shared, context, destroy_labelled, find_slot,
};
use super::{Hsm, HsmError, KeyPairUsage, SignMechanism};
use crate::crypto::DataKey;
use crate::crypto::asym::{Curve, HashAlg, KeyAlgorithm, TokenPublicKey};
use async_trait::async_trait;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// How to reach the token and how long to wait for it. The PIN never comes from a
/// command-line argument.
pub struct HsmSettings {
    /// Path of the PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so` for SoftHSM).
    pub module: PathBuf,
    /// The token is found by label: slot ids are not stable (SoftHSM reassigns them).
    pub token_label: String,
    /// User PIN.
    pub pin: SecretString,
    /// Worker threads for cryptographic operations, each with its own session.
    pub threads: usize,
    /// Operations that may wait for a worker before callers get `Busy`. Small on purpose:
    /// a deep queue in front of a slow device is minutes of waiting, not capacity.
    pub queue_depth: usize,
    /// Longest a caller waits for a cryptographic operation.
    pub call_timeout: Duration,
    /// Worker threads for key generation and destruction (seconds for RSA-4096), kept apart
    /// so that they never hold up encrypt, decrypt or sign.
    pub keygen_threads: usize,
    /// Longest a caller waits for a key generation or destruction.
    pub keygen_timeout: Duration,
}

impl HsmSettings {
    /// The defaults for everything but where the token is.
    pub fn new(module: PathBuf, token_label: String, pin: SecretString) -> Self {
        Self {
            module,
            token_label,
            pin,
            threads: 2,
            queue_depth: 256,
            call_timeout: Duration::from_secs(2),
            keygen_threads: 2,
            keygen_timeout: Duration::from_secs(30),
        }
    }
}

/// Key generations retry once on `CKR_GENERAL_ERROR`: SoftHSM returns it now and then when
/// many token objects are created at once (about 1 in 1,000 under load).
fn generate_with_retry<T>(generate: impl Fn() -> Result<T, CkError>) -> OpResult<T> {
    match generate() {
        Err(CkError::Pkcs11(RvError::GeneralError, _)) => {
            std::thread::sleep(Duration::from_millis(10));
            generate().map_err(|e| match e {
                e @ CkError::Pkcs11(RvError::GeneralError, _) => OpError::Transient(e),
                e => OpError::Pkcs11(e),
            })
        }
        other => other.map_err(OpError::Pkcs11),
    }
}

/// The PKCS#11 implementation of [`Hsm`].
pub struct Pkcs11Hsm {
    /// Encrypt, decrypt, sign, wrap, unwrap, HMAC: short calls with a short deadline.
    crypto: Pool,
    /// Key generation and destruction: long calls with their own threads and deadline.
    keygen: Pool,
    shared: Arc<Shared>,
}

impl Drop for Pkcs11Hsm {
    /// Stops the workers and waits for them to close their sessions, so no PKCS#11 call
    /// races the library's own teardown when the process exits (SoftHSM crashes if a
    /// session closes while its static state is being destroyed).
    fn drop(&mut self) {
        self.crypto.stop();
        self.keygen.stop();
    }
}

impl Pkcs11Hsm {
    /// Loads the module, finds the token by label, logs in and starts the worker threads.
    pub fn connect(settings: HsmSettings) -> Result<Self, HsmError> {
        let ctx = context(&settings.module)?;
        let shared = Arc::new(Shared::connect(ctx, &settings.token_label, settings.pin)?);
        let crypto = Pool::start(
            &shared,
            PoolSettings {
                name: "crypto",
                threads: settings.threads,
                queue_depth: settings.queue_depth,
                deadline: settings.call_timeout,
            },
        )?;
        let keygen = Pool::start(
            &shared,
            PoolSettings {
                name: "keygen",
                threads: settings.keygen_threads,
                queue_depth: settings.queue_depth,
                deadline: settings.keygen_timeout,
            },
        )?;
        Ok(Self {
            crypto,
            keygen,
            shared,
        })
    }

    /// Runs a cryptographic operation on the crypto pool.
    async fn submit<T, F>(&self, op: F) -> Result<T, HsmError>
    where
        T: Send + 'static,
        F: Fn(&Session, &Shared) -> OpResult<T> + Send + 'static,
    {
        self.crypto.submit(op, None).await
    }

    /// Generates a sealed AES-256 key `label` allowed exactly `usages`.
    async fn generate_aes(&self, label: &str, usages: [Attribute; 7]) -> Result<(), HsmError> {
        let owned = label.to_owned();
        self.generate(label, move |s, _| {
            let mut template = sealed_secret_key(KeyType::AES, &owned);
            template.extend(usages.clone());
            generate_sealed(s, &Mechanism::AesKeyGen, template)
        })
        .await
    }

    /// Creates the token key `label` on the keygen pool; if its caller gave up meanwhile,
    /// the key is destroyed again.
    async fn generate<T, F>(&self, label: &str, op: F) -> Result<T, HsmError>
    where
        T: Send + 'static,
        F: Fn(&Session, &Shared) -> OpResult<T> + Send + 'static,
    {
        self.keygen.submit(op, Some(label.to_owned())).await
    }

    /// Logs out and closes the anchor session; worker sessions close when `self` drops.
    pub fn close(&self) {
        self.shared.close();
    }
}

/// Attributes every Coffer-created token key shares: never readable, never extractable.
fn sealed_secret_key(key_type: KeyType, label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::ValueLen(32.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(false),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

/// Usage attributes are all set explicitly: SoftHSM's defaults are more generous. Keys that
/// sign (the HMAC pepper) never need to verify: Coffer compares digests itself.
fn usages(encrypt: bool, wrap: bool, sign: bool) -> [Attribute; 7] {
    [
        Attribute::Encrypt(encrypt),
        Attribute::Decrypt(encrypt),
        Attribute::Wrap(wrap),
        Attribute::Unwrap(wrap),
        Attribute::Sign(sign),
        Attribute::Verify(false),
        Attribute::Derive(false),
    ]
}

fn generate_sealed(
    session: &Session,
    mechanism: &Mechanism,
    template: Vec<Attribute>,
) -> OpResult<()> {
    generate_with_retry(|| session.generate_key(mechanism, &template))?;
    Ok(())
}

/// A readable, extractable session-only AES key: the transient form of a data key.
fn transient_data_key_template() -> [Attribute; 8] {
    [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
    ]
}

/// A data key in transit between two master keys: a session object that can be read by no
/// one (sensitive) and is extractable only so that it can be wrapped again, usable for
/// nothing else.
fn sealed_transit_key_template() -> [Attribute; 10] {
    [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(true),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
    ]
}

/// Reads a transient key's value, then destroys the object whatever happened.
fn take_value(session: &Session, object: ObjectHandle) -> OpResult<DataKey> {
    let read = session.get_attributes(object, &[AttributeType::Value]);
    let _ = session.destroy_object(object);
    for attribute in read? {
        if let Attribute::Value(bytes) = attribute {
            let bytes = Zeroizing::new(bytes);
            return DataKey::from_slice(&bytes).ok_or(OpError::Pkcs11(CkError::Pkcs11(
                RvError::KeySizeRange,
                cryptoki::context::Function::GetAttributeValue,
            )));
        }
    }
    // cryptoki omits attributes it could not read instead of failing.
    Err(OpError::Pkcs11(CkError::Pkcs11(
        RvError::AttributeSensitive,
        cryptoki::context::Function::GetAttributeValue,
    )))
}

/// Decrypts `data` with `key`, the one decryption of GCM and raw RSA: their "the ciphertext
/// is wrong" codes come back as one code, which [`wrong_ciphertext_as_unauthentic`] turns
/// into [`HsmError::AuthenticationFailed`] once the worker has classified the error.
fn decrypt(
    s: &Session,
    mechanism: &Mechanism,
    key: ObjectHandle,
    data: &[u8],
) -> OpResult<Zeroizing<Vec<u8>>> {
    s.decrypt(mechanism, key, data)
        .map(Zeroizing::new)
        .map_err(wrong_ciphertext_error)
}

/// Maps "the ciphertext is wrong" codes of GCM and raw RSA to one code.
fn wrong_ciphertext_error(e: CkError) -> OpError {
    match e {
        // SoftHSM reports a failed GCM tag check as CKR_GENERAL_ERROR; the standard code is
        // CKR_ENCRYPTED_DATA_INVALID. Either means "does not authenticate".
        CkError::Pkcs11(
            RvError::GeneralError | RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange,
            f,
        ) => OpError::Pkcs11(CkError::Pkcs11(RvError::EncryptedDataInvalid, f)),
        other => OpError::Pkcs11(other),
    }
}

/// A ciphertext the token found wrong (see [`decrypt`]) does not authenticate: the caller
/// hears [`HsmError::AuthenticationFailed`], not an internal error.
fn wrong_ciphertext_as_unauthentic<T>(result: Result<T, HsmError>) -> Result<T, HsmError> {
    match result {
        Err(HsmError::Internal(CkError::Pkcs11(RvError::EncryptedDataInvalid, _))) => {
            Err(HsmError::AuthenticationFailed)
        }
        other => other,
    }
}

/// DER-encoded named-curve OIDs for CKA_EC_PARAMS (RFC 5480 and RFC 8410).
const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// The templates of a key pair. The private half is a sealed token object with exactly the
/// usages asked for (SoftHSM would otherwise add decrypt and unwrap); the public half is a
/// session object, read once and destroyed: Coffer keeps public keys in its database.
fn key_pair_templates(
    label: &str,
    algorithm: KeyAlgorithm,
    usage: KeyPairUsage,
) -> (Mechanism<'static>, Vec<Attribute>, Vec<Attribute>) {
    let mut public = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::Token(false),
        Attribute::Verify(usage.sign),
        Attribute::Encrypt(usage.decrypt),
        Attribute::Wrap(false),
        Attribute::Derive(false),
    ];
    let mut private = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(false),
        Attribute::Sign(usage.sign),
        Attribute::Decrypt(usage.decrypt),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    let mechanism = if let Some(bits) = algorithm.rsa_bits() {
        public.push(Attribute::KeyType(KeyType::RSA));
        public.push(Attribute::ModulusBits((bits as u64).into()));
        public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
        private.push(Attribute::KeyType(KeyType::RSA));
        // Raw RSA recovery would bypass the padding Coffer enforces.
        private.push(Attribute::SignRecover(false));
        Mechanism::RsaPkcsKeyPairGen
    } else if let Some(curve) = algorithm.curve() {
        let oid = match curve {
            Curve::P256 => P256_OID,
            Curve::P384 => P384_OID,
        };
        public.push(Attribute::KeyType(KeyType::EC));
        public.push(Attribute::EcParams(oid.to_vec()));
        private.push(Attribute::KeyType(KeyType::EC));
        Mechanism::EccKeyPairGen
    } else {
        public.push(Attribute::KeyType(KeyType::EC_EDWARDS));
        public.push(Attribute::EcParams(ED25519_OID.to_vec()));
        private.push(Attribute::KeyType(KeyType::EC_EDWARDS));
        Mechanism::EccEdwardsKeyPairGen
    };
    (mechanism, public, private)
}

/// Reads the public half of a fresh key pair.
fn read_public(
    session: &Session,
    public: ObjectHandle,
    algorithm: KeyAlgorithm,
) -> OpResult<TokenPublicKey> {
    let missing = || {
        OpError::Pkcs11(CkError::Pkcs11(
            RvError::AttributeTypeInvalid,
            cryptoki::context::Function::GetAttributeValue,
        ))
    };
    if algorithm.rsa_bits().is_some() {
        let attrs = session.get_attributes(
            public,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )?;
        let (mut modulus, mut exponent) = (None, None);
        for a in attrs {
            match a {
                Attribute::Modulus(m) => modulus = Some(m),
                Attribute::PublicExponent(e) => exponent = Some(e),
                _ => {}
            }
        }
        return Ok(TokenPublicKey::Rsa {
            modulus: modulus.ok_or_else(missing)?,
            exponent: exponent.ok_or_else(missing)?,
        });
    }
    let ec_point = session
        .get_attributes(public, &[AttributeType::EcPoint])?
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .ok_or_else(missing)?;
    Ok(match algorithm.curve() {
        Some(curve) => TokenPublicKey::Ec { curve, ec_point },
        None => TokenPublicKey::Ed25519 { ec_point },
    })
}

fn hash_mechanism(hash: HashAlg) -> (MechanismType, PkcsMgfType) {
    match hash {
        HashAlg::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
        HashAlg::Sha384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384),
        HashAlg::Sha512 => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512),
    }
}

/// The PKCS#11 mechanism of a signature; built on the HSM thread (`Mechanism` is `!Send`).
fn sign_mechanism(mechanism: SignMechanism) -> Mechanism<'static> {
    match mechanism {
        SignMechanism::RsaPkcs1 => Mechanism::RsaPkcs,
        SignMechanism::RsaPss(hash) => {
            let (hash_alg, mgf) = hash_mechanism(hash);
            Mechanism::RsaPkcsPss(PkcsPssParams {
                hash_alg,
                mgf,
                s_len: (hash.output_len() as u64).into(),
            })
        }
        SignMechanism::Ecdsa => Mechanism::Ecdsa,
        SignMechanism::Ed25519 => Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
    }
}

#[async_trait]
impl Hsm for Pkcs11Hsm {
    async fn create_master_key(&self, label: &str) -> Result<(), HsmError> {
        // A master key only wraps and unwraps data keys.
        self.generate_aes(label, usages(false, true, false)).await
    }

    async fn create_token_aes_key(&self, label: &str) -> Result<(), HsmError> {
        // A keyring version of HSM protection only encrypts and decrypts.
        self.generate_aes(label, usages(true, false, false)).await
    }

    async fn ensure_hmac_key(&self, label: &str) -> Result<(), HsmError> {
        let label = label.to_owned();
        // No orphan clean-up: the key may have existed before, and it is needed anyway.
        self.keygen
            .submit(
                move |s, shared| match shared.handle(s, &label) {
                    Ok(_) => Ok(()),
                    Err(OpError::NotFound(_)) => {
                        let mut template = sealed_secret_key(KeyType::GENERIC_SECRET, &label);
                        template.extend(usages(false, false, true));
                        generate_sealed(s, &Mechanism::GenericSecretKeyGen, template)
                    }
                    Err(e) => Err(e),
                },
                None,
            )
            .await
    }

    async fn destroy_key(&self, label: &str) -> Result<(), HsmError> {
        let label = label.to_owned();
        self.keygen
            .submit(move |s, shared| destroy_labelled(s, shared, &label), None)
            .await
    }

    async fn generate_wrapped_data_key(
        &self,
        master: &str,
    ) -> Result<(DataKey, Vec<u8>), HsmError> {
        let master = master.to_owned();
        self.submit(move |s, shared| {
            let wrapping = shared.handle(s, &master)?;
            let mut template = transient_data_key_template().to_vec();
            template.push(Attribute::ValueLen(32.into()));
            let dek = s.generate_key(&Mechanism::AesKeyGen, &template)?;
            let wrapped = match s.wrap_key(&Mechanism::AesKeyWrapPad, wrapping, dek) {
                Ok(w) => w,
                Err(e) => {
                    let _ = s.destroy_object(dek);
                    return Err(e.into());
                }
            };
            Ok((take_value(s, dek)?, wrapped))
        })
        .await
    }

    async fn unwrap_data_key(&self, master: &str, wrapped: &[u8]) -> Result<DataKey, HsmError> {
        let master = master.to_owned();
        let wrapped = wrapped.to_vec();
        self.submit(move |s, shared| {
            let unwrapping = shared.handle(s, &master)?;
            let dek = s.unwrap_key(
                &Mechanism::AesKeyWrapPad,
                unwrapping,
                &wrapped,
                &transient_data_key_template(),
            )?;
            take_value(s, dek)
        })
        .await
    }

    async fn rewrap_data_key(
        &self,
        old_master: &str,
        new_master: &str,
        wrapped: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let (old_master, new_master) = (old_master.to_owned(), new_master.to_owned());
        let wrapped = wrapped.to_vec();
        self.submit(move |s, shared| {
            let unwrapping = shared.handle(s, &old_master)?;
            let wrapping = shared.handle(s, &new_master)?;
            let dek = s.unwrap_key(
                &Mechanism::AesKeyWrapPad,
                unwrapping,
                &wrapped,
                &sealed_transit_key_template(),
            )?;
            let rewrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, wrapping, dek);
            let _ = s.destroy_object(dek);
            Ok(rewrapped?)
        })
        .await
    }

    async fn gcm_encrypt(
        &self,
        key: &str,
        nonce: [u8; 12],
        aad: Vec<u8>,
        plaintext: Vec<u8>,
    ) -> Result<Vec<u8>, HsmError> {
        let key = key.to_owned();
        let plaintext = Zeroizing::new(plaintext);
        self.submit(move |s, shared| {
            let handle = shared.handle(s, &key)?;
            let mut iv = nonce;
            // Mechanism and GcmParams hold raw pointers (!Send): built here, on the HSM thread.
            let params = GcmParams::new(&mut iv, &aad, 128.into())?;
            Ok(s.encrypt(&Mechanism::AesGcm(params), handle, &plaintext)?)
        })
        .await
    }

    async fn gcm_decrypt(
        &self,
        key: &str,
        nonce: [u8; 12],
        aad: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let key = key.to_owned();
        let result = self
            .submit(move |s, shared| {
                let handle = shared.handle(s, &key)?;
                let mut iv = nonce;
                let params = GcmParams::new(&mut iv, &aad, 128.into())?;
                decrypt(s, &Mechanism::AesGcm(params), handle, &ciphertext)
            })
            .await;
        wrong_ciphertext_as_unauthentic(result)
    }

    async fn hmac_sha256(&self, key: &str, data: Vec<u8>) -> Result<[u8; 32], HsmError> {
        let key = key.to_owned();
        self.submit(move |s, shared| {
            let handle = shared.handle(s, &key)?;
            let mac = s.sign(&Mechanism::Sha256Hmac, handle, &data)?;
            mac.try_into().map_err(|_| {
                OpError::Pkcs11(CkError::Pkcs11(
                    RvError::SignatureLenRange,
                    cryptoki::context::Function::Sign,
                ))
            })
        })
        .await
    }

    async fn generate_key_pair(
        &self,
        label: &str,
        algorithm: KeyAlgorithm,
        usage: KeyPairUsage,
    ) -> Result<TokenPublicKey, HsmError> {
        let label = label.to_owned();
        self.generate(&label.clone(), move |s, _| {
            let (mechanism, public, private) = key_pair_templates(&label, algorithm, usage);
            let (public, private) =
                generate_with_retry(|| s.generate_key_pair(&mechanism, &public, &private))?;
            let read = read_public(s, public, algorithm);
            let _ = s.destroy_object(public);
            if read.is_err() {
                let _ = s.destroy_object(private);
            }
            read
        })
        .await
    }

    async fn sign(
        &self,
        label: &str,
        mechanism: SignMechanism,
        input: Vec<u8>,
    ) -> Result<Vec<u8>, HsmError> {
        let label = label.to_owned();
        self.submit(move |s, shared| {
            let key = shared.private_key(s, &label)?;
            Ok(s.sign(&sign_mechanism(mechanism), key, &input)?)
        })
        .await
    }

    async fn rsa_decrypt_raw(
        &self,
        label: &str,
        ciphertext: Vec<u8>,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let label = label.to_owned();
        let result = self
            .submit(move |s, shared| {
                let key = shared.private_key(s, &label)?;
                decrypt(s, &Mechanism::RsaX509, key, &ciphertext)
            })
            .await;
        wrong_ciphertext_as_unauthentic(result)
    }
}

/// Token administration for `serve --dev` and tests: creating a token is not a service
/// operation, so it lives outside the [`Hsm`] trait.
pub struct TokenAdmin;

impl TokenAdmin {
    /// Initialises a token with `label` on a free slot unless one already exists.
    pub fn ensure_token(
        module: &Path,
        label: &str,
        so_pin: &SecretString,
        user_pin: &SecretString,
    ) -> Result<(), HsmError> {
        let ctx = context(module)?;
        let unavailable = |e| HsmError::Unavailable(Some(e));
        if find_slot(&ctx, label).map_err(unavailable)?.is_some() {
            return Ok(());
        }
        let free = ctx
            .get_slots_with_token()
            .map_err(unavailable)?
            .into_iter()
            .find(|slot| {
                ctx.get_token_info(*slot)
                    .map(|t| !t.token_initialized())
                    .unwrap_or(false)
            })
            .ok_or_else(|| HsmError::KeyNotFound("a free slot to initialise a token".into()))?;
        let so = AuthPin::new(so_pin.expose_secret().into());
        ctx.init_token(free, &so, label).map_err(unavailable)?;
        // SoftHSM moves a freshly initialised token to a new slot id: look it up again.
        let slot = find_slot(&ctx, label)
            .map_err(unavailable)?
            .ok_or_else(|| HsmError::KeyNotFound(format!("token {label}")))?;
        let session = ctx.open_rw_session(slot).map_err(unavailable)?;
        session
            .login(UserType::So, Some(&so))
            .map_err(unavailable)?;
        session
            .init_pin(&AuthPin::new(user_pin.expose_secret().into()))
            .map_err(unavailable)?;
        session.logout().map_err(unavailable)?;
        Ok(())
    }
}
