//! [`Hsm`] over PKCS#11 with the `cryptoki` crate.
//!
//! Shape (see `shared/design/architecture.md` and the SoftHSM spike):
//! * one `Pkcs11` context per process, initialised once;
//! * one logged-in anchor session for the life of the process, because closing the last
//!   session logs the token out;
//! * N dedicated OS threads, each owning one R/W session, fed by a bounded queue with a
//!   one-shot reply: a full queue is [`HsmError::Busy`] (a 503), never an unbounded wait;
//! * handles resolved by label once and cached;
//! * a lost session or login is reopened and logged in again by the worker that notices it,
//!   with back-off, while requests get [`HsmError::Unavailable`] (a 503).

use super::{Hsm, HsmError, KeyPairUsage, SignMechanism};
use crate::crypto::DataKey;
use crate::crypto::asym::{Curve, HashAlg, KeyAlgorithm, TokenPublicKey};
use async_trait::async_trait;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How to reach the token. The PIN never comes from a command-line argument.
pub struct HsmSettings {
    /// Path of the PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so` for SoftHSM).
    pub module: PathBuf,
    /// The token is found by label: slot ids are not stable (SoftHSM reassigns them).
    pub token_label: String,
    /// User PIN.
    pub pin: SecretString,
    /// Dedicated worker threads, each with its own session.
    pub threads: usize,
    /// Jobs that may wait for a worker before callers get `Busy`.
    pub queue_depth: usize,
}

/// The process-wide PKCS#11 context: `C_Initialize` may run only once per process.
static CONTEXT: OnceLock<(PathBuf, Pkcs11)> = OnceLock::new();

fn context(module: &Path) -> Result<Pkcs11, HsmError> {
    if let Some((loaded, ctx)) = CONTEXT.get() {
        if loaded != module {
            tracing::warn!(loaded = %loaded.display(), asked = %module.display(),
                "a PKCS#11 module is already loaded in this process; reusing it");
        }
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(module).map_err(|e| HsmError::Unavailable(Some(e)))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(HsmError::Unavailable(Some(e))),
    }
    // Another thread may have won the race; either context talks to the same library.
    let (_, ctx) = CONTEXT.get_or_init(|| (module.to_path_buf(), ctx));
    Ok(ctx.clone())
}

fn find_slot(ctx: &Pkcs11, label: &str) -> Result<Option<Slot>, CkError> {
    for slot in ctx.get_slots_with_token()? {
        let info = ctx.get_token_info(slot)?;
        if info.label().trim_end() == label {
            return Ok(Some(slot));
        }
    }
    Ok(None)
}

/// Failures inside a job, before they are classified into [`HsmError`].
enum OpError {
    Pkcs11(CkError),
    NotFound(String),
    /// The session exists but no user is logged in on it.
    LoggedOut,
}

impl From<CkError> for OpError {
    fn from(e: CkError) -> Self {
        OpError::Pkcs11(e)
    }
}

type OpResult<T> = Result<T, OpError>;

/// Codes after which the session or login must be re-established before retrying.
fn is_connection_loss(e: &OpError) -> bool {
    match e {
        OpError::LoggedOut => true,
        OpError::NotFound(_) => false,
        OpError::Pkcs11(CkError::Pkcs11(rv, _)) => matches!(
            rv,
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::CryptokiNotInitialized
                | RvError::PinIncorrect
                | RvError::PinExpired
                | RvError::PinLocked
        ),
        OpError::Pkcs11(_) => false,
    }
}

/// Codes after which a cached handle may be stale (object re-created, token re-logged in).
fn is_stale_handle(e: &OpError) -> bool {
    matches!(
        e,
        OpError::Pkcs11(CkError::Pkcs11(
            RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid,
            _
        ))
    )
}

fn classify(e: OpError) -> HsmError {
    match e {
        OpError::NotFound(label) => HsmError::KeyNotFound(label),
        OpError::LoggedOut => HsmError::Unavailable(None),
        err if is_connection_loss(&err) => match err {
            OpError::Pkcs11(e) => HsmError::Unavailable(Some(e)),
            _ => HsmError::Unavailable(None),
        },
        OpError::Pkcs11(e) => HsmError::Internal(e),
    }
}

/// State shared by the workers: the context, the slot, the PIN and the handle cache.
struct Shared {
    ctx: Pkcs11,
    slot: Slot,
    pin: SecretString,
    handles: RwLock<HashMap<String, ObjectHandle>>,
    /// Keeps the login alive when workers drop their sessions; replaced on recovery.
    anchor: Mutex<Option<Session>>,
    reconnect: Mutex<Backoff>,
}

struct Backoff {
    failures: u32,
    not_before: Instant,
}

impl Shared {
    fn handle(&self, session: &Session, label: &str) -> OpResult<ObjectHandle> {
        self.handle_of(session, ObjectClass::SECRET_KEY, label)
    }

    fn private_key(&self, session: &Session, label: &str) -> OpResult<ObjectHandle> {
        self.handle_of(session, ObjectClass::PRIVATE_KEY, label)
    }

    fn handle_of(
        &self,
        session: &Session,
        class: ObjectClass,
        label: &str,
    ) -> OpResult<ObjectHandle> {
        if let Some(h) = self
            .handles
            .read()
            .expect("handle cache poisoned")
            .get(label)
        {
            return Ok(*h);
        }
        let found = session.find_objects(&[
            Attribute::Class(class),
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ])?;
        let Some(handle) = found.first().copied() else {
            // An empty search on a session that lost its login looks like a missing key.
            ensure_logged_in(session)?;
            return Err(OpError::NotFound(label.to_owned()));
        };
        self.handles
            .write()
            .expect("handle cache poisoned")
            .insert(label.to_owned(), handle);
        Ok(handle)
    }

    fn forget_handles(&self) {
        self.handles.write().expect("handle cache poisoned").clear();
    }

    /// Opens a logged-in session, unless a recent attempt failed and the back-off holds.
    fn open_session(&self) -> Result<Session, HsmError> {
        {
            let backoff = self.reconnect.lock().expect("backoff poisoned");
            if Instant::now() < backoff.not_before {
                return Err(HsmError::Unavailable(None));
            }
        }
        let opened = self
            .ctx
            .open_rw_session(self.slot)
            .and_then(|s| login(&s, &self.pin).map(|()| s));
        let mut backoff = self.reconnect.lock().expect("backoff poisoned");
        match opened {
            Ok(session) => {
                if backoff.failures > 0 {
                    tracing::info!("HSM session re-established");
                    self.refresh_anchor();
                }
                backoff.failures = 0;
                Ok(session)
            }
            Err(e) => {
                backoff.failures = backoff.failures.saturating_add(1);
                let wait = Duration::from_millis(100u64 << backoff.failures.min(6))
                    .min(Duration::from_secs(5));
                backoff.not_before = Instant::now() + wait;
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "HSM session could not be opened");
                Err(HsmError::Unavailable(Some(e)))
            }
        }
    }

    fn refresh_anchor(&self) {
        if let Ok(session) = self.ctx.open_rw_session(self.slot) {
            *self.anchor.lock().expect("anchor poisoned") = Some(session);
        }
    }
}

fn login(session: &Session, pin: &SecretString) -> Result<(), CkError> {
    let pin = AuthPin::new(pin.expose_secret().into());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

fn ensure_logged_in(session: &Session) -> OpResult<()> {
    match session.get_session_info()?.session_state() {
        SessionState::RwUser | SessionState::RoUser => Ok(()),
        _ => Err(OpError::LoggedOut),
    }
}

/// One HSM thread's state: its own session, opened lazily and reopened after a loss.
struct Worker {
    shared: Arc<Shared>,
    session: Option<Session>,
}

impl Worker {
    fn session(&mut self) -> Result<&Session, HsmError> {
        if self.session.is_none() {
            self.session = Some(self.shared.open_session()?);
        }
        Ok(self.session.as_ref().expect("session was just opened"))
    }

    /// Runs `op`, retrying once after re-establishing the session or refreshing handles.
    fn run<T>(&mut self, op: &dyn Fn(&Session, &Shared) -> OpResult<T>) -> Result<T, HsmError> {
        let mut last = None;
        for _attempt in 0..2 {
            let shared = Arc::clone(&self.shared);
            let session = self.session()?;
            match op(session, &shared) {
                Ok(v) => return Ok(v),
                Err(e) if is_connection_loss(&e) => {
                    tracing::warn!("HSM session lost; reconnecting");
                    self.session = None;
                    self.shared.forget_handles();
                    last = Some(e);
                }
                Err(e) if is_stale_handle(&e) => {
                    self.shared.forget_handles();
                    last = Some(e);
                }
                Err(e) => return Err(classify(e)),
            }
        }
        Err(classify(last.expect("loop ran at least once")))
    }
}

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// The PKCS#11 implementation of [`Hsm`].
pub struct Pkcs11Hsm {
    jobs: crossbeam_channel::Sender<Job>,
    shared: Arc<Shared>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Pkcs11Hsm {
    /// Stops the workers and waits for them to close their sessions, so no PKCS#11 call
    /// races the library's own teardown when the process exits (SoftHSM crashes if a
    /// session closes while its static state is being destroyed).
    fn drop(&mut self) {
        let (closed, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.jobs, closed));
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Pkcs11Hsm {
    /// Loads the module, finds the token by label, logs in and starts the worker threads.
    pub fn connect(settings: HsmSettings) -> Result<Self, HsmError> {
        let ctx = context(&settings.module)?;
        let slot = find_slot(&ctx, &settings.token_label)
            .map_err(|e| HsmError::Unavailable(Some(e)))?
            .ok_or_else(|| HsmError::KeyNotFound(format!("token {}", settings.token_label)))?;
        let anchor = ctx
            .open_rw_session(slot)
            .map_err(|e| HsmError::Unavailable(Some(e)))?;
        login(&anchor, &settings.pin).map_err(|e| HsmError::Unavailable(Some(e)))?;
        let shared = Arc::new(Shared {
            ctx,
            slot,
            pin: settings.pin,
            handles: RwLock::new(HashMap::new()),
            anchor: Mutex::new(Some(anchor)),
            reconnect: Mutex::new(Backoff {
                failures: 0,
                not_before: Instant::now(),
            }),
        });
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(settings.queue_depth.max(1));
        let mut workers = Vec::new();
        for i in 0..settings.threads.max(1) {
            let queue = queue.clone();
            let mut worker = Worker {
                shared: Arc::clone(&shared),
                session: None,
            };
            let handle = std::thread::Builder::new()
                .name(format!("hsm-{i}"))
                .spawn(move || {
                    // Exits when every sender is gone, closing this thread's session.
                    while let Ok(job) = queue.recv() {
                        job(&mut worker);
                    }
                })
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot start HSM thread");
                    HsmError::Unavailable(None)
                })?;
            workers.push(handle);
        }
        Ok(Self {
            jobs,
            shared,
            workers,
        })
    }

    /// Sends `op` to a worker thread and waits for its answer.
    async fn submit<T, F>(&self, op: F) -> Result<T, HsmError>
    where
        T: Send + 'static,
        F: Fn(&Session, &Shared) -> OpResult<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |worker: &mut Worker| {
            let _ = reply.send(worker.run(&op));
        });
        self.jobs.try_send(job).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => HsmError::Busy,
            crossbeam_channel::TrySendError::Disconnected(_) => HsmError::Unavailable(None),
        })?;
        answer.await.map_err(|_| HsmError::Unavailable(None))?
    }

    /// Logs out and closes the anchor session; worker sessions close when `self` drops.
    pub fn close(&self) {
        if let Some(anchor) = self.shared.anchor.lock().expect("anchor poisoned").take() {
            let _ = anchor.logout();
        }
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
    session.generate_key(mechanism, &template)?;
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

/// Maps "the ciphertext is wrong" codes of GCM and raw RSA to one code.
fn gcm_decrypt_error(e: CkError) -> OpError {
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
        let label = label.to_owned();
        self.submit(move |s, _| {
            let mut template = sealed_secret_key(KeyType::AES, &label);
            template.extend(usages(false, true, false));
            generate_sealed(s, &Mechanism::AesKeyGen, template)
        })
        .await
    }

    async fn create_token_aes_key(&self, label: &str) -> Result<(), HsmError> {
        let label = label.to_owned();
        self.submit(move |s, _| {
            let mut template = sealed_secret_key(KeyType::AES, &label);
            template.extend(usages(true, false, false));
            generate_sealed(s, &Mechanism::AesKeyGen, template)
        })
        .await
    }

    async fn ensure_hmac_key(&self, label: &str) -> Result<(), HsmError> {
        let label = label.to_owned();
        self.submit(move |s, shared| match shared.handle(s, &label) {
            Ok(_) => Ok(()),
            Err(OpError::NotFound(_)) => {
                let mut template = sealed_secret_key(KeyType::GENERIC_SECRET, &label);
                template.extend(usages(false, false, true));
                generate_sealed(s, &Mechanism::GenericSecretKeyGen, template)
            }
            Err(e) => Err(e),
        })
        .await
    }

    async fn destroy_key(&self, label: &str) -> Result<(), HsmError> {
        let label = label.to_owned();
        self.submit(move |s, shared| {
            // Any class: secret keys and private keys share the label namespace.
            let found = s.find_objects(&[
                Attribute::Token(true),
                Attribute::Label(label.as_bytes().to_vec()),
            ])?;
            for handle in found {
                s.destroy_object(handle)?;
            }
            shared
                .handles
                .write()
                .expect("handle cache poisoned")
                .remove(&label);
            Ok(())
        })
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
                s.decrypt(&Mechanism::AesGcm(params), handle, &ciphertext)
                    .map(Zeroizing::new)
                    .map_err(gcm_decrypt_error)
            })
            .await;
        match result {
            Err(HsmError::Internal(CkError::Pkcs11(RvError::EncryptedDataInvalid, _))) => {
                Err(HsmError::AuthenticationFailed)
            }
            other => other,
        }
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
        self.submit(move |s, _| {
            let (mechanism, public, private) = key_pair_templates(&label, algorithm, usage);
            let (public, private) = s.generate_key_pair(&mechanism, &public, &private)?;
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
                s.decrypt(&Mechanism::RsaX509, key, &ciphertext)
                    .map(Zeroizing::new)
                    .map_err(gcm_decrypt_error)
            })
            .await;
        match result {
            Err(HsmError::Internal(CkError::Pkcs11(RvError::EncryptedDataInvalid, _))) => {
                Err(HsmError::AuthenticationFailed)
            }
            other => other,
        }
    }

    async fn ping(&self) -> Result<(), HsmError> {
        self.submit(|s, _| ensure_logged_in(s)).await
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
