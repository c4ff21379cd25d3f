//! End-to-end tests: the real server over HTTPS on 127.0.0.1, a real SoftHSM token and a
//! real database per test (a SQLite file, or a PostgreSQL database on the second pass). Run with cargo-nextest (one process per test), as
//! `scripts/test.sh` does: SoftHSM reads its token list once per process.

mod agent_postgres;
mod ai_agents;
mod approval_cli;
mod approval_operations;
mod approvals;
mod audit_chain;
mod backup;
mod cert_isolation;
mod cert_proofs;
mod cert_support;
mod contract;
mod crash;
mod custody;
mod databases;
mod expect;
mod group_members;
mod hsm_faults;
mod identity;
mod identity_accounts;
mod identity_certificates;
mod identity_support;
mod invitations;
mod isolation;
mod key_certificates;
mod key_lifecycle;
mod key_support;
mod keyring_errors;
mod keyring_lifecycle;
mod keyring_support;
mod keyrings;
mod keys;
mod listener;
mod machine_lockout;
mod machine_requests;
mod machine_support;
mod machines;
mod master_rotation;
mod matrix;
mod nodes;
mod object_canaries;
mod policies;
mod policy_counters;
mod policy_support;
mod postgres_only;
mod readme_python;
mod secret_canaries;
mod secret_rules;
mod secret_values;
mod secrets;
mod service;
mod share_page;
mod shares;
mod storage_faults;
mod support;
mod tenancy;
mod token;

mod activity_stream;
mod alerts;
mod mcp;
mod templates;
mod watch_support;

mod aws_kms_service;
