//! YouTube uploads alone: `cargo run --release --example youtube`.
//! See `systems/youtube.rs`.

#[allow(dead_code)]
#[path = "systems/common.rs"]
mod common;
#[path = "systems/youtube.rs"]
mod youtube;

fn main() {
    let r = youtube::run(&youtube::Config::default());
    println!("{}", r.table);
}
