//! How calls reach the token: the process-wide PKCS#11 context, sessions, recovery, and the
//! worker pools with their deadlines.
//!
//! The HSM is a slow, fragile, shared device, so:
//! * PKCS#11 calls block: they run on dedicated OS threads, each owning one session, fed by
//!   a bounded queue with a one-shot reply. A full queue is [`HsmError::Busy`].
//! * Every call has a deadline. A caller waits at most that long ([`HsmError::Timeout`]); a
//!   job whose caller gave up before a worker took it is skipped; a worker stuck in a call
//!   past the deadline is *suspect*: when every worker of a pool is suspect, new calls are
//!   refused at once ([`HsmError::Stalled`]) instead of queueing behind a hung device, and a
//!   suspect worker reopens its session once its call returns.
//! * Slow work (key generation, which takes seconds for RSA-4096, and destruction of token
//!   objects) has its own pool, so it never holds up encrypt, decrypt or sign.
//! * A lost session or login is reopened with back-off. A key the database knows but the
//!   token no longer shows (the token went away and came back) makes the worker re-initialise
//!   the library, which is the only way SoftHSM (and some real HSMs) rescan their tokens.

use super::HsmError;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockWriteGuard, TryLockError};
use std::time::{Duration, Instant};

/// The process-wide PKCS#11 context: `C_Initialize` may run only once per process.
static CONTEXT: OnceLock<(PathBuf, Pkcs11)> = OnceLock::new();

pub(super) fn context(module: &Path) -> Result<Pkcs11, HsmError> {
    if let Some((loaded, ctx)) = CONTEXT.get() {
        if loaded != module {
            tracing::warn!(loaded = %loaded.display(), asked = %module.display(),
                "a PKCS#11 module is already loaded in this process; reusing it");
        }
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(module).map_err(|e| HsmError::Unavailable(Some(e)))?;
    initialize(&ctx).map_err(|e| HsmError::Unavailable(Some(e)))?;
    // Another thread may have won the race; either context talks to the same library.
    let (_, ctx) = CONTEXT.get_or_init(|| (module.to_path_buf(), ctx));
    Ok(ctx.clone())
}

fn initialize(ctx: &Pkcs11) -> Result<(), CkError> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

pub(super) fn find_slot(ctx: &Pkcs11, label: &str) -> Result<Option<Slot>, CkError> {
    for slot in ctx.get_slots_with_token()? {
        let info = ctx.get_token_info(slot)?;
        if info.label().trim_end() == label {
            return Ok(Some(slot));
        }
    }
    Ok(None)
}

/// Failures inside a job, before they are classified into [`HsmError`].
pub(super) enum OpError {
    Pkcs11(CkError),
    /// No token object has this label (in the session the job ran on).
    NotFound(String),
    /// The session exists but no user is logged in on it.
    LoggedOut,
    /// The device failed in a way a retry may not (a second `CKR_GENERAL_ERROR` from key
    /// generation): the caller gets a retryable 503.
    Transient(CkError),
    /// No session could be opened: the call it carries, or `None` while the back-off after
    /// a failed attempt holds.
    NoSession(Option<CkError>),
}

impl From<CkError> for OpError {
    fn from(e: CkError) -> Self {
        OpError::Pkcs11(e)
    }
}

pub(super) type OpResult<T> = Result<T, OpError>;

fn return_value(e: &OpError) -> Option<RvError> {
    match e {
        OpError::Pkcs11(CkError::Pkcs11(rv, _))
        | OpError::NoSession(Some(CkError::Pkcs11(rv, _))) => Some(*rv),
        _ => None,
    }
}

/// Codes after which the session or login must be re-established before retrying.
fn is_connection_loss(e: &OpError) -> bool {
    matches!(e, OpError::LoggedOut)
        || return_value(e).is_some_and(|rv| {
            matches!(
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
            )
        })
}

/// Failures after which only re-initialising the library may find the token again.
fn is_token_loss(e: &OpError) -> bool {
    matches!(e, OpError::NotFound(_))
        || return_value(e).is_some_and(|rv| {
            matches!(
                rv,
                RvError::DeviceRemoved
                    | RvError::TokenNotPresent
                    | RvError::TokenNotRecognized
                    | RvError::CryptokiNotInitialized
                    | RvError::SlotIdInvalid
            )
        })
}

/// Codes after which a cached handle may be stale (object re-created, token re-logged in).
fn is_stale_handle(e: &OpError) -> bool {
    return_value(e).is_some_and(|rv| {
        matches!(
            rv,
            RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid
                | RvError::WrappingKeyHandleInvalid
                | RvError::UnwrappingKeyHandleInvalid
        )
    })
}

fn classify(e: OpError) -> HsmError {
    match e {
        OpError::NotFound(label) => HsmError::KeyNotFound(label),
        OpError::LoggedOut => HsmError::Unavailable(None),
        OpError::Transient(e) | OpError::NoSession(Some(e)) => HsmError::Unavailable(Some(e)),
        OpError::NoSession(None) => HsmError::Unavailable(None),
        err if is_connection_loss(&err) => match err {
            OpError::Pkcs11(e) => HsmError::Unavailable(Some(e)),
            _ => HsmError::Unavailable(None),
        },
        OpError::Pkcs11(e) => HsmError::Internal(e),
    }
}

/// State shared by every worker: the context, the token, the PIN and the handle cache.
pub(super) struct Shared {
    ctx: Pkcs11,
    token_label: String,
    /// The token's slot; it can change when the library is re-initialised.
    slot: RwLock<Slot>,
    pin: SecretString,
    /// Object handles by label. They stay valid until the library is re-initialised (or
    /// the object is destroyed), so they never expire; they are dropped on those events.
    handles: quick_cache::sync::Cache<String, ObjectHandle>,
    /// Keeps the login alive when workers drop their sessions; replaced on recovery.
    anchor: Mutex<Option<Session>>,
    reconnect: Mutex<Backoff>,
    /// Bumped when the library is re-initialised: sessions of an older epoch are void.
    epoch: AtomicU64,
    /// Held shared by every running job and exclusively by a library reset, so that no
    /// PKCS#11 call is in flight across `C_Finalize`.
    library: RwLock<()>,
    last_reset: Mutex<Option<Instant>>,
}

struct Backoff {
    failures: u32,
    not_before: Instant,
}

/// Re-initialising the library is cheap on SoftHSM but not on a network HSM: at most once
/// in this interval, however many requests find the token missing.
const MIN_RESET_INTERVAL: Duration = Duration::from_secs(2);

/// How long a reset waits for the jobs in flight to finish.
const RESET_WAIT: Duration = Duration::from_secs(1);

impl Shared {
    /// Finds the token, logs in on an anchor session and returns the shared state.
    pub(super) fn connect(
        ctx: Pkcs11,
        token_label: &str,
        pin: SecretString,
    ) -> Result<Self, HsmError> {
        let slot = find_slot(&ctx, token_label)
            .map_err(|e| HsmError::Unavailable(Some(e)))?
            .ok_or_else(|| HsmError::KeyNotFound(format!("token {token_label}")))?;
        let anchor =
            open_logged_in(&ctx, slot, &pin).map_err(|e| HsmError::Unavailable(Some(e)))?;
        Ok(Self {
            ctx,
            token_label: token_label.to_owned(),
            slot: RwLock::new(slot),
            pin,
            handles: quick_cache::sync::Cache::new(crate::cache::ENTRIES_PER_CACHE),
            anchor: Mutex::new(Some(anchor)),
            reconnect: Mutex::new(Backoff {
                failures: 0,
                not_before: Instant::now(),
            }),
            epoch: AtomicU64::new(0),
            library: RwLock::new(()),
            last_reset: Mutex::new(None),
        })
    }

    pub(super) fn handle(&self, session: &Session, label: &str) -> OpResult<ObjectHandle> {
        self.handle_of(session, ObjectClass::SECRET_KEY, label)
    }

    pub(super) fn private_key(&self, session: &Session, label: &str) -> OpResult<ObjectHandle> {
        self.handle_of(session, ObjectClass::PRIVATE_KEY, label)
    }

    fn handle_of(
        &self,
        session: &Session,
        class: ObjectClass,
        label: &str,
    ) -> OpResult<ObjectHandle> {
        if let Some(handle) = self.handles.get(label) {
            return Ok(handle);
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
        self.handles.insert(label.to_owned(), handle);
        Ok(handle)
    }

    pub(super) fn forget_handle(&self, label: &str) {
        self.handles.remove(label);
    }

    fn forget_handles(&self) {
        self.handles.clear();
    }

    /// Opens a logged-in session, unless a recent attempt failed and the back-off holds.
    fn open_session(&self) -> Result<Session, OpError> {
        {
            let backoff = self.reconnect.lock().expect("backoff poisoned");
            if Instant::now() < backoff.not_before {
                return Err(OpError::NoSession(None));
            }
        }
        let slot = *self.slot.read().expect("slot poisoned");
        let opened = open_logged_in(&self.ctx, slot, &self.pin);
        let mut backoff = self.reconnect.lock().expect("backoff poisoned");
        match opened {
            Ok(session) => {
                let anchorless = self.anchor.lock().expect("anchor poisoned").is_none();
                if backoff.failures > 0 || anchorless {
                    tracing::info!("HSM session re-established");
                    self.replace_anchor();
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
                Err(OpError::NoSession(Some(e)))
            }
        }
    }

    fn replace_anchor(&self) {
        let slot = *self.slot.read().expect("slot poisoned");
        if let Ok(session) = open_logged_in(&self.ctx, slot, &self.pin) {
            *self.anchor.lock().expect("anchor poisoned") = Some(session);
        }
    }

    /// Re-initialises the library and finds the token again: after a token vanished and
    /// came back, SoftHSM keeps answering "no such object" until `C_Initialize` rescans its
    /// token directory. Waits (bounded) for the jobs in flight; a job stuck for longer
    /// makes this attempt give up, and a later failure tries again.
    fn reset_library(&self) {
        {
            let mut last = self.last_reset.lock().expect("reset time poisoned");
            if last.is_some_and(|at| at.elapsed() < MIN_RESET_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        let Some(_exclusive) = self.exclusive_library() else {
            tracing::warn!("HSM library reset postponed: a call is still in flight");
            return;
        };
        tracing::warn!(
            "the token lost track of keys or went away; re-initialising the PKCS#11 library"
        );
        // Every session of this epoch dies with C_Finalize. Their handles are forgotten,
        // never closed: after re-initialisation a new session may reuse the same number.
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(anchor) = self.anchor.lock().expect("anchor poisoned").take() {
            std::mem::forget(anchor);
        }
        self.forget_handles();
        if let Err(e) = self.ctx.clone().finalize() {
            tracing::warn!(error = %e, "C_Finalize failed; initialising anyway");
        }
        if let Err(e) = initialize(&self.ctx) {
            tracing::error!(error = %e, "C_Initialize failed; the HSM stays unavailable");
            return;
        }
        match find_slot(&self.ctx, &self.token_label) {
            Ok(Some(slot)) => *self.slot.write().expect("slot poisoned") = slot,
            Ok(None) => tracing::warn!(token = %self.token_label, "the token is not present yet"),
            Err(e) => tracing::warn!(error = %e, "cannot list the HSM slots"),
        }
        {
            let mut backoff = self.reconnect.lock().expect("backoff poisoned");
            backoff.failures = 0;
            backoff.not_before = Instant::now();
        }
        self.replace_anchor();
    }

    fn exclusive_library(&self) -> Option<RwLockWriteGuard<'_, ()>> {
        let deadline = Instant::now() + RESET_WAIT;
        loop {
            match self.library.try_write() {
                Ok(guard) => return Some(guard),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return None,
            }
        }
    }

    /// Logs out and closes the anchor session.
    pub(super) fn close(&self) {
        if let Some(anchor) = self.anchor.lock().expect("anchor poisoned").take() {
            let _ = anchor.logout();
        }
    }
}

fn open_logged_in(ctx: &Pkcs11, slot: Slot, pin: &SecretString) -> Result<Session, CkError> {
    let session = ctx.open_rw_session(slot)?;
    let pin = AuthPin::new(pin.expose_secret().into());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(e) => Err(e),
    }
}

pub(super) fn ensure_logged_in(session: &Session) -> OpResult<()> {
    match session.get_session_info()?.session_state() {
        SessionState::RwUser | SessionState::RoUser => Ok(()),
        _ => Err(OpError::LoggedOut),
    }
}

/// One HSM thread's state: its own session, opened lazily and reopened after a loss.
pub(super) struct Worker {
    shared: Arc<Shared>,
    session: Option<(u64, Session)>,
    /// Set by a job whose failure only a library reset can cure; acted on between jobs.
    wants_reset: bool,
}

/// Attempts per job: a stale handle, then a lost login, can each cost one before the job
/// runs on a fresh, logged-in session with fresh handles.
const ATTEMPTS: usize = 3;

impl Worker {
    fn session(&mut self) -> Result<&Session, OpError> {
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        self.forget_void_session(epoch);
        if self.session.is_none() {
            self.session = Some((epoch, self.shared.open_session()?));
        }
        Ok(&self.session.as_ref().expect("session was just opened").1)
    }

    /// Closes this worker's session (or forgets it, if it belongs to an older library
    /// epoch), never while a library reset is running.
    fn drop_session(&mut self) {
        let shared = Arc::clone(&self.shared);
        let _no_reset = shared.library.read().expect("library lock poisoned");
        self.forget_void_session(shared.epoch.load(Ordering::Acquire));
        self.session = None;
    }

    /// Drops the session of an older library epoch without closing it (see
    /// [`Shared::reset_library`]).
    fn forget_void_session(&mut self, epoch: u64) {
        if self.session.as_ref().is_some_and(|(e, _)| *e != epoch)
            && let Some((_, void)) = self.session.take()
        {
            std::mem::forget(void);
        }
    }

    /// Runs `op`, retrying after refreshing handles or re-establishing the session.
    pub(super) fn run<T>(
        &mut self,
        op: &dyn Fn(&Session, &Shared) -> OpResult<T>,
    ) -> Result<T, HsmError> {
        let shared = Arc::clone(&self.shared);
        let _in_flight = shared.library.read().expect("library lock poisoned");
        let mut last = None;
        for _attempt in 0..ATTEMPTS {
            let outcome = match self.session() {
                Ok(session) => op(session, &shared),
                Err(e) => {
                    self.wants_reset |= is_token_loss(&e);
                    return Err(classify(e));
                }
            };
            match outcome {
                Ok(v) => return Ok(v),
                Err(e) if is_connection_loss(&e) => {
                    tracing::warn!("HSM session or login lost; reconnecting");
                    self.session = None;
                    shared.forget_handles();
                    last = Some(e);
                }
                Err(e) if is_stale_handle(&e) => {
                    shared.forget_handles();
                    last = Some(e);
                }
                // The database names this key, so the token should have it: a fresh session
                // decides whether the token lost its login or lost the key.
                Err(e @ OpError::NotFound(_)) => {
                    self.session = None;
                    shared.forget_handles();
                    last = Some(e);
                }
                Err(e) => return Err(classify(e)),
            }
        }
        let last = last.expect("the loop ran at least once");
        if is_token_loss(&last) {
            self.wants_reset = true;
        }
        Err(classify(last))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.drop_session();
    }
}

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// A set of worker threads with one bounded queue and one deadline.
pub(super) struct Pool {
    name: &'static str,
    jobs: crossbeam_channel::Sender<Job>,
    workers: Vec<std::thread::JoinHandle<()>>,
    /// Per worker: when its current job started (micros since `origin`, 0 when idle).
    busy_since: Arc<Vec<AtomicU64>>,
    origin: Instant,
    deadline: Duration,
}

/// How a pool is sized and bounded.
pub(super) struct PoolSettings {
    pub name: &'static str,
    pub threads: usize,
    pub queue_depth: usize,
    pub deadline: Duration,
}

impl Pool {
    pub(super) fn start(shared: &Arc<Shared>, settings: PoolSettings) -> Result<Self, HsmError> {
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(settings.queue_depth.max(1));
        let threads = settings.threads.max(1);
        let busy_since: Arc<Vec<AtomicU64>> =
            Arc::new((0..threads).map(|_| AtomicU64::new(0)).collect());
        let origin = Instant::now();
        let mut workers = Vec::new();
        for i in 0..threads {
            let queue = queue.clone();
            let busy_since = Arc::clone(&busy_since);
            let deadline = settings.deadline;
            let mut worker = Worker {
                shared: Arc::clone(shared),
                session: None,
                wants_reset: false,
            };
            let handle = std::thread::Builder::new()
                .name(format!("hsm-{}-{i}", settings.name))
                .spawn(move || {
                    // Exits when every sender is gone, closing this thread's session.
                    while let Ok(job) = queue.recv() {
                        let started = Instant::now();
                        busy_since[i].store(micros_since(origin).max(1), Ordering::Release);
                        job(&mut worker);
                        busy_since[i].store(0, Ordering::Release);
                        if started.elapsed() > deadline {
                            // The call overran its deadline: the session may be wedged in
                            // the device; start afresh.
                            tracing::warn!(
                                took_ms = started.elapsed().as_millis() as u64,
                                "an HSM call overran its deadline; reopening the worker's session"
                            );
                            worker.drop_session();
                        }
                        if std::mem::take(&mut worker.wants_reset) {
                            worker.shared.reset_library();
                        }
                    }
                })
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot start HSM thread");
                    HsmError::Unavailable(None)
                })?;
            workers.push(handle);
        }
        Ok(Self {
            name: settings.name,
            jobs,
            workers,
            busy_since,
            origin,
            deadline: settings.deadline,
        })
    }

    /// Whether every worker is stuck in a call older than the deadline.
    fn stalled(&self) -> bool {
        let now = micros_since(self.origin);
        let limit = u64::try_from(self.deadline.as_micros()).unwrap_or(u64::MAX);
        self.busy_since.iter().all(|since| {
            let since = since.load(Ordering::Acquire);
            since != 0 && now.saturating_sub(since) > limit
        })
    }

    /// Sends `op` to a worker and waits for its answer, at most the pool's deadline. If
    /// the caller has gone when a successful job ends, `orphan` (the label of a key the
    /// job created) is destroyed, so a timed-out creation leaves nothing in the token.
    pub(super) async fn submit<T, F>(&self, op: F, orphan: Option<String>) -> Result<T, HsmError>
    where
        T: Send + 'static,
        F: Fn(&Session, &Shared) -> OpResult<T> + Send + 'static,
    {
        if self.stalled() {
            return Err(HsmError::Stalled);
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |worker: &mut Worker| {
            if reply.is_closed() {
                return; // the caller gave up while this job waited in the queue
            }
            let result = worker.run(&op);
            if let Err(Ok(_)) = reply.send(result)
                && let Some(label) = orphan
            {
                tracing::warn!(%label, "a key was created after its caller gave up; destroying it");
                let _ = worker.run(&|s, shared| destroy_labelled(s, shared, &label));
            }
        });
        self.jobs.try_send(job).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => HsmError::Busy,
            crossbeam_channel::TrySendError::Disconnected(_) => HsmError::Unavailable(None),
        })?;
        match tokio::time::timeout(self.deadline, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(HsmError::Unavailable(None)),
            Err(_) => {
                tracing::warn!(
                    pool = self.name,
                    deadline_ms = self.deadline.as_millis() as u64,
                    "an HSM call missed its deadline"
                );
                Err(HsmError::Timeout(self.deadline))
            }
        }
    }

    /// Stops the workers and waits for them to close their sessions.
    pub(super) fn stop(&mut self) {
        let (closed, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.jobs, closed));
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn micros_since(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Destroys every token object labelled `label` (secret and private keys share the label
/// namespace). Missing is success.
pub(super) fn destroy_labelled(session: &Session, shared: &Shared, label: &str) -> OpResult<()> {
    let found = session.find_objects(&[
        Attribute::Token(true),
        Attribute::Label(label.as_bytes().to_vec()),
    ])?;
    for handle in found {
        session.destroy_object(handle)?;
    }
    shared.forget_handle(label);
    Ok(())
}
