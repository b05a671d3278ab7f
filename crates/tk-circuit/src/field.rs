//! The scalar field and the map from signed integers into it.
//!
//! A signed integer `v` is represented by the field element `v mod p` (negative values are
//! `p - |v|`). Every value the circuit handles is bounded far below `p / 2` (spec: `|acc * M| <
//! 2^72`), so the map is injective on the values that occur and sums and products of them never
//! wrap.

use halo2_axiom::halo2curves::ff::{Field, PrimeField};

/// The BN254 scalar field, in which every circuit value lives.
pub type Fr = halo2_axiom::halo2curves::bn256::Fr;

/// The field element representing the signed integer `v`.
pub fn fe(v: i128) -> Fr {
    if v >= 0 {
        Fr::from_u128(v as u128)
    } else {
        -Fr::from_u128(v.unsigned_abs())
    }
}

/// `2^bits` as a field element (`bits` may exceed 127).
pub fn pow2(bits: u32) -> Fr {
    Fr::from(2u64).pow_vartime([u64::from(bits)])
}

/// The signed integer a field element represents, when it lies in `(-2^127, 2^127)`.
pub fn to_i128(x: Fr) -> Option<i128> {
    let small = |y: Fr| -> Option<u128> {
        let bytes = y.to_repr();
        let bytes: &[u8] = bytes.as_ref();
        if bytes[16..].iter().any(|&b| b != 0) {
            return None;
        }
        let mut lo = [0u8; 16];
        lo.copy_from_slice(&bytes[..16]);
        let v = u128::from_le_bytes(lo);
        (v < 1 << 127).then_some(v)
    };
    if let Some(v) = small(x) {
        return Some(v as i128);
    }
    small(-x).map(|v| -(v as i128))
}

/// Number of bits needed to write `v` (0 for 0).
pub fn bit_len(v: u128) -> u32 {
    128 - v.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_round_trip() {
        for v in [0i128, 1, -1, 127, -128, 1 << 72, -(1 << 72), i128::MAX / 2] {
            assert_eq!(to_i128(fe(v)), Some(v));
        }
        assert_eq!(fe(-5) + fe(5), Fr::ZERO);
        assert_eq!(pow2(130), fe(1 << 65) * fe(1 << 65));
        assert_eq!(bit_len(255), 8);
        assert_eq!(bit_len(0), 0);
    }
}
