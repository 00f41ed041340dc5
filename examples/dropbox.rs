//! Dropbox sync by changed chunks alone: `cargo run --release --example dropbox`.
//! See `systems/dropbox.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/dropbox.rs"]
mod dropbox;

fn main() {
    let r = dropbox::run(&dropbox::Config::default());
    println!("{}", r.table);
}
