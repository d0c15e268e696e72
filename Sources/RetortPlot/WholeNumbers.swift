/// `value` truncated toward zero and kept within `range`; NaN gives the range's lower bound.
///
/// `Int(_:)` ends the process on NaN, on infinity and past ±2⁶³, and a plot's coordinates reach all
/// three from data a user gave (a NaN among bar heights, values whose span is too wide for a Double).
/// Every conversion of a drawing coordinate or a colour component to a whole number goes through here,
/// or sits behind a test that the value is finite and in range.
func wholeNumber(_ value: Double, in range: ClosedRange<Int>) -> Int {
    guard value == value, value > Double(range.lowerBound) else { return range.lowerBound }
    // Double(Int.max) rounds up to 2⁶³, so `>=` keeps Int(value) below Int.max.
    guard value < Double(range.upperBound) else { return range.upperBound }
    return Swift.max(range.lowerBound, Swift.min(Int(value), range.upperBound))
}
