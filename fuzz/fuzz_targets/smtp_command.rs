//! The SMTP command parser must give a command or an error for any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    let _ = mxguard::smtp::command::parse(line);
});
