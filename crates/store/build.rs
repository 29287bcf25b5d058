//! Builds the small C helper for `long double` arithmetic (see `src/num.rs` for why).
fn main() {
    println!("cargo:rerun-if-changed=csrc/ldouble.c");
    cc::Build::new()
        .file("csrc/ldouble.c")
        .warnings(true)
        .compile("basalt_ldouble");
}
