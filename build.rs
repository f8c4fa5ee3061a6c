//! Link-time settings only (no code is generated here).

fn main() {
    // RELR packed relative relocations (DT_RELR; binutils >= 2.38, glibc >= 2.36): the position-
    // independent binary's relocation table, which the loader reads in full at start-up and
    // which then stays resident, shrinks from 24 bytes per pointer to a few bits. Release builds
    // only: tests and development builds keep linking on any toolchain.
    if std::env::var("PROFILE").as_deref() == Ok("release")
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
