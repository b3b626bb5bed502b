//! The edge: execute-api front doors. Calls to REST APIs are authorised here as AWS authorises
//! them (endpoint policy, then the API's resource policy) before they reach the emulator's
//! data plane, which does not enforce them.

pub(crate) mod policy;
