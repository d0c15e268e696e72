/// erf in float without a library call, so loops over it vectorise: GELU's Φ(x) = ½(1 + erf(x/√2)).
///
/// erf is odd, erf(x) = x · p(x²), with p a polynomial of degree 16 fitted by least squares to erf on
/// [0, 4] (`scripts/fit-erf` prints these coefficients and the error): at most 1.9e-7 from the exact
/// erf, about three units in the last place near ±1 (glibc's erff: under one). Beyond ±4 erf is ±1 in
/// float. NaN stays NaN.
@inlinable
public func retortErf(_ x: Float) -> Float {
    let clamped = x < -4 ? -4 : (x > 4 ? 4 : x)
    let t = clamped * clamped * 0.125 - 1
    var p: Float = 0.0006561643676832318
    p = p * t + -0.0013504134258255363
    p = p * t + 0.0003870650252792984
    p = p * t + -0.0011567818000912666
    p = p * t + 0.005934630520641804
    p = p * t + -0.009972554631531239
    p = p * t + 0.013619586825370789
    p = p * t + -0.021744096651673317
    p = p * t + 0.033345602452754974
    p = p * t + -0.04598306864500046
    p = p * t + 0.05982501432299614
    p = p * t + -0.07469363510608673
    p = p * t + 0.09021568298339844
    p = p * t + -0.10771284252405167
    p = p * t + 0.1316748410463333
    p = p * t + -0.1765761822462082
    p = p * t + 0.35353100299835205
    let value = clamped * p
    return value < -1 ? -1 : (value > 1 ? 1 : value)
}
