//! Diagnostics (SPEC §10): a log of each SMTP conversation, inbound and
//! outbound, kept always or only when something went wrong, and copies of
//! accepted queue files. They are for the administrator chasing a problem
//! with one peer, so everything here is off unless configured, and costs
//! one check per connection when off.

mod content;
mod output;
mod queue_copy;
mod transcript;
mod trigger;

pub use queue_copy::save_queue_file;
pub use transcript::Transcript;
