//! The Model Context Protocol server of `coffer mcp serve`: an AI coding client starts it as a
//! subprocess and talks JSON-RPC over its standard input and output; each tool call becomes
//! one request to an agent-facing `/v1/ai` route, signed with the installed agent identity.
//!
//! Why a separate module rather than more CLI code: the protocol ([`protocol`]) and the tool
//! table ([`tools`]) are pure, so they are unit-tested without a server, and the tools' input
//! schemas come from the OpenAPI document, so a route and its tool cannot drift apart. The
//! server holds no secret but the agent's key (inside the transport), and it returns the
//! routes' answers as they are: the plaintext boundary is the server's, not this module's.
//! See `docs/mcp.md`.

pub mod protocol;
pub mod tools;

pub use protocol::{Server, Transport};
