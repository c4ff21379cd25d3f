//! The raw SoftHSM P-256 signing rate, for comparison with signing through the API:
//! N threads, one session each, `CKM_ECDSA` over a 32-byte digest with a session key.
//!
//!   cargo run --release --example raw-sign -- MODULE TOKEN_LABEL PIN THREADS SECONDS
//!
//! `bench/run.sh` runs it against a throw-away token with the server's HSM thread count.
//! It prints `RAW <signatures per second> <CPU microseconds per signature>`.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// DER OID of P-256 for CKA_EC_PARAMS.
const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, module, label, pin, threads, seconds] = args.as_slice() else {
        return Err("usage: raw-sign MODULE TOKEN_LABEL PIN THREADS SECONDS".into());
    };
    let threads: usize = threads.parse()?;
    let seconds: u64 = seconds.parse()?;
    let ctx = Pkcs11::new(module)?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let slot = ctx
        .get_slots_with_token()?
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .map(|t| t.label().trim_end() == label)
                .unwrap_or(false)
        })
        .ok_or("token not found")?;
    let anchor = ctx.open_rw_session(slot)?;
    anchor.login(UserType::User, Some(&AuthPin::new(pin.as_str().into())))?;
    let (_, private) = anchor.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::Token(false),
            Attribute::EcParams(P256_OID.to_vec()),
            Attribute::Verify(true),
        ],
        &[
            Attribute::Token(true),
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(b"bench/raw-sign".to_vec()),
        ],
    )?;
    let signs = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let cpu_before = process_cpu();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let session = ctx.open_rw_session(slot).expect("session");
            let (signs, stop) = (&signs, &stop);
            scope.spawn(move || {
                let digest = [0x5au8; 32];
                while !stop.load(Ordering::Relaxed) {
                    session
                        .sign(&Mechanism::Ecdsa, private, &digest)
                        .expect("sign");
                    signs.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    let signed = signs.load(Ordering::Relaxed) as f64;
    let rate = signed / started.elapsed().as_secs_f64();
    let cpu_per_sign = (process_cpu() - cpu_before).as_secs_f64() * 1e6 / signed.max(1.0);
    anchor.destroy_object(private)?;
    println!("RAW {rate:.0} {cpu_per_sign:.1}");
    Ok(())
}

/// The CPU time (user + system) this process has used so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}
