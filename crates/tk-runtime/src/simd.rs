//! Run-time CPU dispatch for integer loops, without `unsafe`: a [`Kernel`] passed to
//! [`vectorized`] is compiled for AVX-512 and AVX2 as well as the x86-64 baseline, and the
//! widest version the CPU supports runs (detected once, through `pulp`'s safe wrappers).
//!
//! The runtime's element-wise passes use it, and so does the trace writer to narrow tensors.

/// A computation worth compiling for wide vectors: [`vectorized`] runs it. `run` must be
/// `#[inline(always)]` (with everything it calls in hot loops) so that it is compiled inside
/// the AVX2-enabled caller.
pub trait Kernel {
    /// What it computes.
    type Output;
    /// Computes it.
    fn run(self) -> Self::Output;
}

/// Runs `kernel` compiled for AVX-512 (or else AVX2) when the CPU has it (detected at run
/// time, through `pulp`'s safe wrappers), so that LLVM vectorises its loops with wide
/// instructions (64-bit multiplies and shifts need AVX-512).
#[inline(always)]
pub fn vectorized<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        struct Op<K>(K);
        impl<K: Kernel> pulp::WithSimd for Op<K> {
            type Output = K::Output;
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _: S) -> K::Output {
                self.0.run()
            }
        }
        if let Some(simd) = pulp::x86::V4::try_new() {
            return <pulp::x86::V4 as pulp::Simd>::vectorize(simd, Op(kernel));
        }
        if let Some(simd) = pulp::x86::V3::try_new() {
            return <pulp::x86::V3 as pulp::Simd>::vectorize(simd, Op(kernel));
        }
    }
    kernel.run()
}
