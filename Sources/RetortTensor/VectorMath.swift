import CRetortMath

/// The one caller of CRetortMath: erf, exp and GELU over whole buffers, in C so that the loops
/// vectorise with AVX2 and FMA where the CPU has them (the Swift tensor core is compiled for the
/// baseline x86-64, four lanes and no FMA).
enum VectorMath {
    /// erf within 1.9e-7 (a polynomial from `scripts/fit-erf`); ±1 beyond ±4, NaN stays NaN.
    static func erf(_ x: Float) -> Float { retort_erf(x) }

    /// exp within about two units in the last place on [-87, 88]; for the tests of GELU's derivative.
    static func exp(_ x: Float) -> Float { retort_exp(x) }

    /// GELU's output x · Φ(x), Φ(x) = ½(1 + erf(x/√2)).
    static func gelu(_ x: Tensor) -> Tensor {
        x.withUnsafeBufferPointer { px in
            Tensor(shape: x.shape) { po in retort_gelu(px.baseAddress, px.count, po.baseAddress, nil) }
        }
    }

    /// GELU's output and Φ(x), which its backward pass needs.
    static func geluKeepingCDF(_ x: Tensor) -> (output: Tensor, cdf: Tensor) {
        var cdf = Tensor(shape: x.shape, repeating: 0)
        let output = x.withUnsafeBufferPointer { px in
            cdf.withUnsafeMutableBufferPointer { pc in
                Tensor(shape: x.shape) { po in retort_gelu(px.baseAddress, px.count, po.baseAddress, pc.baseAddress) }
            }
        }
        return (output, cdf)
    }

    /// GELU's input gradient g · (Φ(x) + x · φ(x)), φ the standard normal density.
    static func geluBackward(_ g: Tensor, x: Tensor, cdf: Tensor) -> Tensor {
        g.withUnsafeBufferPointer { pg in
            x.withUnsafeBufferPointer { px in
                cdf.withUnsafeBufferPointer { pc in
                    Tensor(shape: x.shape) { pd in
                        retort_gelu_backward(pg.baseAddress, px.baseAddress, pc.baseAddress, px.count, pd.baseAddress)
                    }
                }
            }
        }
    }
}
