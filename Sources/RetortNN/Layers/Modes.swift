/// Every module's own mode, train or eval, to put back exactly after a call that switches a whole
/// model: a model with one layer in eval mode (a dropout turned off, a batch norm frozen) came back
/// from fit, predict or accuracy with every layer in its first layer's mode, and `.mode` said only
/// the first layer's.
public struct Modes {
    private let saved: [(layer: Layer, training: Bool)]

    public init(of model: Layer) { saved = model.namedModules.map { ($0.layer, $0.layer.isTraining) } }

    /// Puts each module back in its mode, parents before children, so that each child's own wins.
    public func restore() { for (layer, training) in saved { layer.isTraining = training } }

    /// "train" or "eval" when every layer without children is in that mode; otherwise "mixed"
    /// and the layers in eval mode, by name.
    public static func describe(_ model: Layer) -> String {
        let leaves = model.namedModules.filter { $0.layer.children.isEmpty }
        let evaluating = leaves.filter { !$0.layer.isTraining }.map { $0.name.isEmpty ? "(the model)" : $0.name }
        if evaluating.isEmpty { return "train" }
        if evaluating.count == leaves.count { return "eval" }
        return "mixed (eval: \(evaluating.joined(separator: ", ")))"
    }
}
