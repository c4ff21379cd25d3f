/*
 * faulthsm's shared declarations: the wrapped functions, and the rules that
 * faulthsm.c's gate asks rules.c for. Only C_GetFunctionList leaves the
 * module: everything shared between the two files is hidden.
 */

#ifndef FAULTHSM_H
#define FAULTHSM_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

/*
 * Careful when naming things in this file: in its default (compatibility)
 * mode the p11-kit header #defines lowercase words such as count, value,
 * params and reserved.
 */


#define INTERNAL __attribute__((visibility("hidden")))

#define DEFAULT_REAL_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define STALL_POLL_MS 20
#define STATS_INTERVAL_MS 100
#define MAX_DELAY_MS 3600000UL
#define MAX_CONTROL_BYTES (1u << 20)
#define BLANKS " \t\r\v\f"

/*
 * Every function that takes a session handle first, plus C_OpenSession. All
 * the other entries of the table go to the real module untouched.
 */
#define WRAPPED_FUNCTIONS(X)                                                  \
	X(C_OpenSession) X(C_CloseSession) X(C_GetSessionInfo)                \
	X(C_GetOperationState) X(C_SetOperationState)                         \
	X(C_Login) X(C_Logout)                                                \
	X(C_CreateObject) X(C_CopyObject) X(C_DestroyObject)                  \
	X(C_GetObjectSize) X(C_GetAttributeValue) X(C_SetAttributeValue)     \
	X(C_FindObjectsInit) X(C_FindObjects) X(C_FindObjectsFinal)           \
	X(C_EncryptInit) X(C_Encrypt) X(C_EncryptUpdate) X(C_EncryptFinal)    \
	X(C_DecryptInit) X(C_Decrypt) X(C_DecryptUpdate) X(C_DecryptFinal)    \
	X(C_DigestInit) X(C_Digest) X(C_DigestUpdate) X(C_DigestKey)          \
	X(C_DigestFinal)                                                      \
	X(C_SignInit) X(C_Sign) X(C_SignUpdate) X(C_SignFinal)                \
	X(C_SignRecoverInit) X(C_SignRecover)                                 \
	X(C_VerifyInit) X(C_Verify) X(C_VerifyUpdate) X(C_VerifyFinal)        \
	X(C_VerifyRecoverInit) X(C_VerifyRecover)                             \
	X(C_DigestEncryptUpdate) X(C_DecryptDigestUpdate)                     \
	X(C_SignEncryptUpdate) X(C_DecryptVerifyUpdate)                       \
	X(C_GenerateKey) X(C_GenerateKeyPair) X(C_WrapKey) X(C_UnwrapKey)     \
	X(C_DeriveKey) X(C_SeedRandom) X(C_GenerateRandom)                    \
	X(C_GetFunctionStatus) X(C_CancelFunction)

enum fn_id {
#define AS_ENUM(name) FN_##name,
	WRAPPED_FUNCTIONS(AS_ENUM)
#undef AS_ENUM
	FN_COUNT
};

/* A rule's set of functions is a bit mask indexed by fn_id. */
_Static_assert(FN_COUNT <= 64, "function sets must fit in a uint64_t");
#define ALL_FUNCTIONS \
	(FN_COUNT == 64 ? ~UINT64_C(0) : (UINT64_C(1) << FN_COUNT) - 1)

/* The wrapped functions' names, indexed by fn_id. */
INTERNAL extern const char *const fn_names[FN_COUNT];

enum rule_kind { RULE_LOGOUT, RULE_DELAY, RULE_STALL, RULE_FAIL };

struct rule {
	enum rule_kind kind;
	uint64_t fns;
	unsigned long arg; /* delay: milliseconds; fail: the CK_RV */
	long remaining;    /* matching calls still affected; -1: unlimited */
};

/* What identifies the version of the file that the rules were parsed from. */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* The control file and the rules parsed from it. */
struct control {
	pthread_mutex_t lock; /* guards everything below except path */
	const char *path;     /* NULL: no control file, pure pass-through */
	int loaded;           /* rules reflect the file version `id` */
	struct file_id id;
	struct rule *rules;
	size_t nrules;
};

INTERNAL extern struct control ctl;

/* Forgets every rule (they are read again on the next call). */
INTERNAL void drop_rules_locked(void);

/* Brings the rules up to date with the file: one stat when nothing changed. */
INTERNAL void refresh_locked(void);

/*
 * The first rule of `kind` that matches `fn` and has calls left, after
 * using up one of its calls; NULL if none. The pointer dies with the lock.
 */
INTERNAL const struct rule *take_rule_locked(enum rule_kind kind, enum fn_id fn);

#endif
