//! The operations that the HTTP layer, `Sandbox`'s methods and the binary
//! share: making organizations, loading fixtures, the control plane, the
//! request journal and redaction. Their errors are typed; HTTP maps them.

pub(crate) mod control_error;
pub(crate) mod controls;
pub(crate) mod fixtures;
pub(crate) mod journal;
pub(crate) mod orgs;
pub(crate) mod redact;
