/*
 * faulthsm: a PKCS#11 module that injects faults for integration tests.
 *
 * SoftHSM never hangs, never slows down, never fails a call and never
 * forgets a login, but a real HSM does all four (network partitions,
 * overload, firmware errors, reboots). This module is loaded in SoftHSM's
 * place. It loads the real module, passes every call through to it, and
 * before each session-level call it reads a control file that a test edits
 * to switch faults on and off while the service under test keeps running.
 *
 * Build:
 *   cc -shared -fPIC -O2 -Wall -Wextra -I/usr/include/p11-kit-1 \
 *      -o faulthsm.so tests/faulthsm/faulthsm.c tests/faulthsm/rules.c \
 *      -ldl -lpthread
 *
 * Environment, read once, on the first C_GetFunctionList:
 *   FAULTHSM_REAL     the real module (default /usr/lib/softhsm/libsofthsm2.so)
 *   FAULTHSM_CONTROL  the control file. Unset, empty, or no such file: no
 *                     rules, every call passes straight through.
 *   FAULTHSM_STATS    optional. Per-function call counts of this process are
 *                     written here, at most every 100 ms, and once more when
 *                     the module is unloaded or the process exits normally.
 *                     One line per wrapped function, "C_Name count".
 *                     A call is counted when it arrives, even if a rule then
 *                     stalls it or makes it fail.
 *
 * Control file grammar (one rule per line; tokens separated by blanks):
 *
 *   line    := blank | comment | rule [comment]
 *   comment := "#" up to the end of the line (allowed anywhere)
 *   rule    := "stall"  FUNCS
 *            | "delay"  MS FUNCS
 *            | "fail"   RV FUNCS [COUNT]
 *            | "logout" FUNCS [COUNT]
 *   FUNCS   := "*" | NAME ("," NAME)*     no blanks around the commas
 *   NAME    := a wrapped function name, e.g. C_Encrypt (case-sensitive)
 *   MS      := decimal, 0 to 3600000 (one hour)
 *   RV      := "0x" followed by hex digits, or decimal: the CK_RV to return
 *   COUNT   := decimal, at least 1
 *
 *   stall   the call blocks while the rule is in the file (polled every
 *           20 ms), then proceeds normally: a hung HSM.
 *   delay   the call sleeps MS milliseconds, then proceeds.
 *   fail    the call returns RV without reaching the real module. With
 *           COUNT, only the next COUNT matching calls of the whole process
 *           fail; without it, every matching call fails.
 *   logout  the real C_Logout is called on the call's session (its result
 *           ignored), then the call proceeds: the token dropped the login,
 *           as after an HSM reboot. COUNT as for fail, default 1. For
 *           C_OpenSession, which has no session yet, the logout is issued on
 *           the new session right after it opened successfully.
 *
 *   "*" means every wrapped function: C_OpenSession and every function whose
 *   first argument is a session handle.
 *
 *   Per kind, the first rule that matches the function (and has calls left)
 *   wins; a spent COUNT rule no longer matches, so a later rule of the same
 *   kind can take over. Kinds apply in the order logout, delay, stall, fail.
 *   Stall and fail are judged against the file as it is once the delay is
 *   over, so lifting a stall and arming a failure in one edit are seen
 *   together.
 *
 *   The file is re-read whenever its mtime (with nanoseconds), size, inode
 *   or device changes; re-reading resets every COUNT. A malformed line is
 *   reported on stderr, once per re-read, and ignored entirely: a typo never
 *   yields half a rule. Edit the file by writing a new one and renaming it
 *   over the old: no call then sees a half-written file, and the change is
 *   always noticed. Rewriting in place works too, but two rewrites of the
 *   same size within one timestamp tick (a few ms) can go unnoticed.
 *
 *   COUNTs live in the memory of the process that loaded the module, shared
 *   by its threads: each process that loads the module starts from the
 *   COUNTs written in the file.
 *
 * Example:
 *   delay 200 C_Sign,C_Verify
 *   fail 0x30 C_Encrypt 2      # CKR_DEVICE_ERROR, twice
 *   logout *                   # the next call on any session finds the
 *                              # token logged out
 */

#include "faulthsm.h"

/* The real module's table, and the one we hand out: a copy with wrappers. */
static CK_FUNCTION_LIST real;
static CK_FUNCTION_LIST shim;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CK_RV init_rv;

/* ------------------------------------------------------------------ */
/* Call statistics                                                      */

static unsigned long calls[FN_COUNT];
static const char *stats_path;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t stats_written_ms = -STATS_INTERVAL_MS;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Readers must never see a half-written file, hence tmp + rename; the pid
 * keeps processes that share the stats path from clobbering each other's
 * tmp file.
 */
static void write_stats_locked(void)
{
	static char tmp[PATH_MAX + 32];
	FILE *f;
	int i;

	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", stats_path, (long)getpid());
	f = fopen(tmp, "we");
	if (!f)
		return;
	for (i = 0; i < FN_COUNT; i++)
		fprintf(f, "%s %lu\n", fn_names[i],
			__atomic_load_n(&calls[i], __ATOMIC_RELAXED));
	if (fclose(f) != 0 || rename(tmp, stats_path) != 0)
		unlink(tmp);
}

/*
 * Rate-limited so that a busy service does not spend its time rewriting the
 * file; `force` is for the final write. A thread that finds another one
 * writing skips: that write is recent enough.
 */
static void flush_stats(int force)
{
	int64_t now;

	if (!stats_path)
		return;
	now = now_ms();
	if (!force && now - __atomic_load_n(&stats_written_ms, __ATOMIC_RELAXED) < STATS_INTERVAL_MS)
		return;
	if (force)
		pthread_mutex_lock(&stats_lock);
	else if (pthread_mutex_trylock(&stats_lock) != 0)
		return;
	if (force || now - stats_written_ms >= STATS_INTERVAL_MS) {
		write_stats_locked();
		__atomic_store_n(&stats_written_ms, now_ms(), __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&stats_lock);
}

/*
 * Runs at dlclose() or exit, and never calls the real module. It writes the
 * calls made since the last rate-limited write, and frees the rules so that
 * a leak checker run on the service stays quiet. The paths are not freed:
 * they live in static buffers, because a thread still stalled while the
 * process exits goes on polling the control file after this has run.
 */
__attribute__((destructor)) static void at_unload(void)
{
	flush_stats(1);
	pthread_mutex_lock(&ctl.lock);
	drop_rules_locked();
	pthread_mutex_unlock(&ctl.lock);
}

/* ------------------------------------------------------------------ */
/* The gate every wrapper goes through                                  */

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

enum verdict {
	FORWARD,             /* call the real function */
	FORWARD_THEN_LOGOUT, /* ditto, then log out its new session */
	RETURN_RV            /* return *rv without calling it */
};

/*
 * Applies the rules for one call. `session` is NULL for C_OpenSession,
 * whose logout has to wait for the session to exist.
 *
 * The lock is never held while sleeping or inside the real module: a
 * stalled call must not stop the other threads from reaching the HSM, nor
 * the rules from being re-read.
 */
static enum verdict gate(enum fn_id fn, const CK_SESSION_HANDLE *session,
			 CK_RV *rv)
{
	const struct rule *r;
	unsigned long delay_ms = 0;
	enum verdict verdict = FORWARD;
	int logout, waited;

	__atomic_add_fetch(&calls[fn], 1, __ATOMIC_RELAXED);
	flush_stats(0);
	if (!ctl.path)
		return FORWARD;

	pthread_mutex_lock(&ctl.lock);
	refresh_locked();
	logout = take_rule_locked(RULE_LOGOUT, fn) != NULL;
	r = take_rule_locked(RULE_DELAY, fn);
	if (r)
		delay_ms = r->arg;
	pthread_mutex_unlock(&ctl.lock);

	if (logout) {
		if (session)
			(void)real.C_Logout(*session);
		else
			verdict = FORWARD_THEN_LOGOUT;
	}
	waited = delay_ms > 0;
	if (waited)
		sleep_ms(delay_ms);

	/*
	 * The loop exits with the lock held so that the last stall check and
	 * the fail decision see the same version of the rules.
	 */
	for (;;) {
		pthread_mutex_lock(&ctl.lock);
		if (waited)
			refresh_locked();
		if (!take_rule_locked(RULE_STALL, fn))
			break;
		pthread_mutex_unlock(&ctl.lock);
		sleep_ms(STALL_POLL_MS);
		waited = 1;
	}
	r = take_rule_locked(RULE_FAIL, fn);
	if (r) {
		*rv = r->arg;
		verdict = RETURN_RV;
	}
	pthread_mutex_unlock(&ctl.lock);
	return verdict;
}

/* ------------------------------------------------------------------ */
/* Wrappers                                                             */

static CK_RV fh_C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags,
			      CK_VOID_PTR pApplication, CK_NOTIFY Notify,
			      CK_SESSION_HANDLE_PTR phSession)
{
	enum verdict verdict;
	CK_RV rv;

	verdict = gate(FN_C_OpenSession, NULL, &rv);
	if (verdict == RETURN_RV)
		return rv;
	rv = real.C_OpenSession(slotID, flags, pApplication, Notify, phSession);
	if (verdict == FORWARD_THEN_LOGOUT && rv == CKR_OK && phSession)
		(void)real.C_Logout(*phSession);
	return rv;
}

/* The session handle must be called hSession: the gate needs it. */
#define SESSION_WRAPPER(name, decl, args)                                     \
	static CK_RV fh_##name decl                                           \
	{                                                                     \
		CK_RV rv;                                                     \
		if (gate(FN_##name, &hSession, &rv) == RETURN_RV)             \
			return rv;                                            \
		return real.name args;                                        \
	}

/*
 * Most functions share one of a few signatures. Each shape is declared
 * once here and wraps every function listed under it.
 */

/* The session alone */
#define SESSION_ONLY_WRAPPER(name)                                            \
	SESSION_WRAPPER(name,                                                 \
		(CK_SESSION_HANDLE hSession),                                 \
		(hSession))
SESSION_ONLY_WRAPPER(C_CloseSession)
SESSION_ONLY_WRAPPER(C_Logout)
SESSION_ONLY_WRAPPER(C_FindObjectsFinal)
SESSION_ONLY_WRAPPER(C_GetFunctionStatus)
SESSION_ONLY_WRAPPER(C_CancelFunction)

/* Bytes in */
#define BYTES_IN_WRAPPER(name)                                                \
	SESSION_WRAPPER(name,                                                 \
		(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pIn,                 \
		 CK_ULONG ulInLen),                                           \
		(hSession, pIn, ulInLen))
BYTES_IN_WRAPPER(C_DigestUpdate)
BYTES_IN_WRAPPER(C_SignUpdate)
BYTES_IN_WRAPPER(C_VerifyUpdate)
BYTES_IN_WRAPPER(C_VerifyFinal)
BYTES_IN_WRAPPER(C_SeedRandom)
BYTES_IN_WRAPPER(C_GenerateRandom)

/* Bytes out, with their length */
#define BYTES_OUT_WRAPPER(name)                                               \
	SESSION_WRAPPER(name,                                                 \
		(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOut,                \
		 CK_ULONG_PTR pulOutLen),                                     \
		(hSession, pOut, pulOutLen))
BYTES_OUT_WRAPPER(C_GetOperationState)
BYTES_OUT_WRAPPER(C_EncryptFinal)
BYTES_OUT_WRAPPER(C_DecryptFinal)
BYTES_OUT_WRAPPER(C_DigestFinal)
BYTES_OUT_WRAPPER(C_SignFinal)

/* Bytes in, bytes out */
#define BYTES_IN_OUT_WRAPPER(name)                                            \
	SESSION_WRAPPER(name,                                                 \
		(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pIn,                 \
		 CK_ULONG ulInLen, CK_BYTE_PTR pOut,                          \
		 CK_ULONG_PTR pulOutLen),                                     \
		(hSession, pIn, ulInLen, pOut, pulOutLen))
BYTES_IN_OUT_WRAPPER(C_Encrypt)
BYTES_IN_OUT_WRAPPER(C_EncryptUpdate)
BYTES_IN_OUT_WRAPPER(C_Decrypt)
BYTES_IN_OUT_WRAPPER(C_DecryptUpdate)
BYTES_IN_OUT_WRAPPER(C_Digest)
BYTES_IN_OUT_WRAPPER(C_Sign)
BYTES_IN_OUT_WRAPPER(C_SignRecover)
BYTES_IN_OUT_WRAPPER(C_VerifyRecover)
BYTES_IN_OUT_WRAPPER(C_DigestEncryptUpdate)
BYTES_IN_OUT_WRAPPER(C_DecryptDigestUpdate)
BYTES_IN_OUT_WRAPPER(C_SignEncryptUpdate)
BYTES_IN_OUT_WRAPPER(C_DecryptVerifyUpdate)

/* An operation started with a mechanism and a key */
#define MECHANISM_KEY_WRAPPER(name)                                           \
	SESSION_WRAPPER(name,                                                 \
		(CK_SESSION_HANDLE hSession,                                  \
		 CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey),         \
		(hSession, pMechanism, hKey))
MECHANISM_KEY_WRAPPER(C_EncryptInit)
MECHANISM_KEY_WRAPPER(C_DecryptInit)
MECHANISM_KEY_WRAPPER(C_SignInit)
MECHANISM_KEY_WRAPPER(C_SignRecoverInit)
MECHANISM_KEY_WRAPPER(C_VerifyInit)
MECHANISM_KEY_WRAPPER(C_VerifyRecoverInit)

/* One object */
#define OBJECT_WRAPPER(name)                                                  \
	SESSION_WRAPPER(name,                                                 \
		(CK_SESSION_HANDLE hSession,                                  \
		 CK_OBJECT_HANDLE hObject),                                   \
		(hSession, hObject))
OBJECT_WRAPPER(C_DestroyObject)
OBJECT_WRAPPER(C_DigestKey)

/* An object's attributes */
#define ATTRIBUTES_WRAPPER(name)                                              \
	SESSION_WRAPPER(name,                                                 \
		(CK_SESSION_HANDLE hSession,                                  \
		 CK_OBJECT_HANDLE hObject,                                    \
		 CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount),               \
		(hSession, hObject, pTemplate, ulCount))
ATTRIBUTES_WRAPPER(C_GetAttributeValue)
ATTRIBUTES_WRAPPER(C_SetAttributeValue)

/* Signatures of their own */
SESSION_WRAPPER(C_GetSessionInfo,
		(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo),
		(hSession, pInfo))
SESSION_WRAPPER(C_SetOperationState,
		(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
		 CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
		 CK_OBJECT_HANDLE hAuthenticationKey),
		(hSession, pOperationState, ulOperationStateLen,
		 hEncryptionKey, hAuthenticationKey))
SESSION_WRAPPER(C_Login,
		(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
		 CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen),
		(hSession, userType, pPin, ulPinLen))
SESSION_WRAPPER(C_CreateObject,
		(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
		 CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject),
		(hSession, pTemplate, ulCount, phObject))
SESSION_WRAPPER(C_CopyObject,
		(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
		 CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
		 CK_OBJECT_HANDLE_PTR phNewObject),
		(hSession, hObject, pTemplate, ulCount, phNewObject))
SESSION_WRAPPER(C_GetObjectSize,
		(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
		 CK_ULONG_PTR pulSize),
		(hSession, hObject, pulSize))
SESSION_WRAPPER(C_FindObjectsInit,
		(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
		 CK_ULONG ulCount),
		(hSession, pTemplate, ulCount))
SESSION_WRAPPER(C_FindObjects,
		(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
		 CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount),
		(hSession, phObject, ulMaxObjectCount, pulObjectCount))
SESSION_WRAPPER(C_DigestInit,
		(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism),
		(hSession, pMechanism))
SESSION_WRAPPER(C_Verify,
		(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
		 CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		 CK_ULONG ulSignatureLen),
		(hSession, pData, ulDataLen, pSignature, ulSignatureLen))
SESSION_WRAPPER(C_GenerateKey,
		(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		 CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
		 CK_OBJECT_HANDLE_PTR phKey),
		(hSession, pMechanism, pTemplate, ulCount, phKey))
SESSION_WRAPPER(C_GenerateKeyPair,
		(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		 CK_ATTRIBUTE_PTR pPublicKeyTemplate,
		 CK_ULONG ulPublicKeyAttributeCount,
		 CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
		 CK_ULONG ulPrivateKeyAttributeCount,
		 CK_OBJECT_HANDLE_PTR phPublicKey,
		 CK_OBJECT_HANDLE_PTR phPrivateKey),
		(hSession, pMechanism, pPublicKeyTemplate,
		 ulPublicKeyAttributeCount, pPrivateKeyTemplate,
		 ulPrivateKeyAttributeCount, phPublicKey, phPrivateKey))
SESSION_WRAPPER(C_WrapKey,
		(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		 CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey,
		 CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen),
		(hSession, pMechanism, hWrappingKey, hKey, pWrappedKey,
		 pulWrappedKeyLen))
SESSION_WRAPPER(C_UnwrapKey,
		(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		 CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
		 CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
		 CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey),
		(hSession, pMechanism, hUnwrappingKey, pWrappedKey,
		 ulWrappedKeyLen, pTemplate, ulAttributeCount, phKey))
SESSION_WRAPPER(C_DeriveKey,
		(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
		 CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
		 CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey),
		(hSession, pMechanism, hBaseKey, pTemplate, ulAttributeCount,
		 phKey))

#undef SESSION_ONLY_WRAPPER
#undef BYTES_IN_WRAPPER
#undef BYTES_OUT_WRAPPER
#undef BYTES_IN_OUT_WRAPPER
#undef MECHANISM_KEY_WRAPPER
#undef OBJECT_WRAPPER
#undef ATTRIBUTES_WRAPPER
#undef SESSION_WRAPPER

/* ------------------------------------------------------------------ */
/* Loading                                                              */

/*
 * The environment may change later, so keep our own copy of a path; *out
 * is NULL when the variable is unset or empty. Fails if it is too long.
 */
static int env_path(const char *name, char *buf, const char **out)
{
	const char *v = getenv(name);

	*out = NULL;
	if (!v || !*v)
		return 0;
	if (strlen(v) >= PATH_MAX) {
		fprintf(stderr, "faulthsm: %s is longer than PATH_MAX\n", name);
		return -1;
	}
	strcpy(buf, v);
	*out = buf;
	return 0;
}

/*
 * The real module is never dlclose()d: its functions are in our table, and
 * other threads may still be inside them for as long as we are loaded.
 */
static void load_real_module(void)
{
	static char control_buf[PATH_MAX], stats_buf[PATH_MAX];
	const char *path = getenv("FAULTHSM_REAL");
	const char *control, *stats;
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST_PTR list = NULL;
	void *handle;
	CK_RV rv;

	if (!path || !*path)
		path = DEFAULT_REAL_MODULE;
	init_rv = CKR_GENERAL_ERROR;
	if (env_path("FAULTHSM_CONTROL", control_buf, &control) != 0 ||
	    env_path("FAULTHSM_STATS", stats_buf, &stats) != 0)
		return;
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		fprintf(stderr, "faulthsm: cannot load the real PKCS#11 module: %s\n", dlerror());
		return;
	}
	get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
	if (!get_list) {
		fprintf(stderr, "faulthsm: %s has no C_GetFunctionList\n", path);
		dlclose(handle);
		return;
	}
	/* Pointing FAULTHSM_REAL at ourselves would deadlock in pthread_once. */
	if (get_list == C_GetFunctionList) {
		fprintf(stderr, "faulthsm: FAULTHSM_REAL (%s) is faulthsm itself\n", path);
		dlclose(handle);
		return;
	}
	rv = get_list(&list);
	if (rv != CKR_OK || !list) {
		fprintf(stderr, "faulthsm: C_GetFunctionList of %s failed (rv 0x%lx)\n", path, rv);
		dlclose(handle);
		return;
	}

	real = *list;
	shim = real;
	shim.C_GetFunctionList = C_GetFunctionList;
#define PATCH(name) shim.name = fh_##name;
	WRAPPED_FUNCTIONS(PATCH)
#undef PATCH
	ctl.path = control;
	stats_path = stats;
	init_rv = CKR_OK;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (!ppFunctionList)
		return CKR_ARGUMENTS_BAD;
	pthread_once(&init_once, load_real_module);
	if (init_rv != CKR_OK)
		return init_rv;
	*ppFunctionList = &shim;
	return CKR_OK;
}
