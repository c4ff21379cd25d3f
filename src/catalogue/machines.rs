//! Machines: enrolment tokens, provisioning, registration and lifecycle.

use super::{Operation, delete, get, post};

pub const CREATE_MACHINE_TOKEN: Operation = post("/v1/machine-tokens")
    .summary("Issue a bootstrap, enrollment or temporary machine token (shown once)")
    .needs(&["machine.write"], "machine.token.create")
    .takes("CreateMachineToken")
    .created("MachineTokenIssued");

pub const LIST_MACHINE_TOKENS: Operation = get("/v1/machine-tokens")
    .summary("List the account's machine tokens")
    .needs(&["machine.read"], "machine.token.list")
    .gives("MachineTokenList");

pub const DISABLE_MACHINE_TOKEN: Operation = delete("/v1/machine-tokens/{id}")
    .summary("Disable a machine token")
    .needs(&["machine.write"], "machine.token.disable")
    .status(204);

pub const PROVISION_MACHINE: Operation = post("/v1/machines")
    .summary("Provision an approved machine; its key pair leaves only in a single-use bundle")
    .needs(&["machine.write"], "machine.provision")
    .takes("ProvisionMachine")
    .created("ProvisionedMachine");

pub const LIST_MACHINES: Operation = get("/v1/machines")
    .summary("List machines")
    .needs(&["machine.read"], "machine.list")
    .gives("MachineList");

pub const REGISTER_MACHINE: Operation = post("/v1/machines/register")
    .summary("Register a machine's public key with a machine token (no other credential)")
    .audited_as("machine.register")
    .takes("RegisterMachine")
    .created("Machine");

pub const DOWNLOAD_BUNDLE: Operation = post("/v1/machines/bundle")
    .summary("Download a provisioned machine's bundle, once (the bundle token is the credential)")
    .audited_as("machine.bundle.download")
    .exchanges("BundleDownload", "MachineBundle");

pub const GET_MACHINE: Operation = get("/v1/machines/{id}")
    .summary("A machine")
    .needs(&["machine.read"], "machine.read")
    .gives("Machine");

pub const DELETE_MACHINE: Operation = delete("/v1/machines/{id}")
    .summary("Delete a machine and its app")
    .needs(&["machine.write"], "machine.delete")
    .status(204);

pub const APPROVE_MACHINE: Operation = post("/v1/machines/{id}/approve")
    .summary("Approve a pending machine")
    .needs(&["machine.write"], "machine.approve")
    .gives("Machine");

pub const DISABLE_MACHINE: Operation = post("/v1/machines/{id}/disable")
    .summary("Disable a machine (effective on its next request)")
    .needs(&["machine.write"], "machine.disable")
    .gives("Machine");

pub const ENABLE_MACHINE: Operation = post("/v1/machines/{id}/enable")
    .summary("Enable a machine")
    .needs(&["machine.write"], "machine.enable")
    .gives("Machine");

pub const EXTEND_MACHINE: Operation = post("/v1/machines/{id}/extend")
    .summary("Extend a machine's expiry (at most twelve months from now)")
    .needs(&["machine.write"], "machine.extend")
    .exchanges("ExtendMachine", "Machine");

pub const REVERT_MACHINE_EXTENSION: Operation = post("/v1/machines/{id}/revert-extension")
    .summary("Revert a machine's last extension")
    .needs(&["machine.write"], "machine.extension.revert")
    .gives("Machine");
