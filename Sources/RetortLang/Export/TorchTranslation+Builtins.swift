import RetortExport
import RetortTensor

// The builtins a loss may call, each as PyTorch: torch.nn.functional where its semantics are
// Retort's, else an `rt_` helper written at the top of loss.py (only those the loss uses).

extension TorchTranslation {
    /// A call's arguments bound to the builtin's parameters, as Python text.
    struct Arguments {
        let builtin: Builtin
        var texts: [String: String] = [:]
        var expressions: [String: Expr] = [:]
        var rest: [String] = []
        let translation: TorchTranslation
        let range: SourceRange

        func given(_ name: String) -> Bool { texts[name] != nil }

        /// The argument's Python text, or its default's.
        func text(_ name: String) throws -> String {
            if let t = texts[name] { return t }
            guard let parameter = builtin.parameters.first(where: { $0.name == name }) else {
                // The builtin's declaration changed under the table: say so rather than write wrong code.
                throw translation.refuse("\(builtin.name) has no parameter '\(name)' the PyTorch translation expects", at: range)
            }
            guard let d = parameter.defaultValue else {
                throw translation.refuse("missing argument '\(name)' in call to \(builtin.signature)", at: range)
            }
            return try translation.literal(d, name: name, at: range)
        }

        /// A whole number (an axis, a count): a literal as it is, anything else through `rt_index`.
        func int(_ name: String) throws -> String {
            if let e = expressions[name], let literal = wholeNumber(e) { return literal }
            let t = try text(name)
            if Int(t) != nil || t == "None" { return t }
            translation.helpers.insert("rt_index")
            return "rt_index(\(t))"
        }

        /// A list of whole numbers (a shape, an axis order): a literal as a Python list.
        func ints(_ name: String) throws -> String {
            if case .list(let items, _)? = expressions[name] {
                let numbers = items.compactMap(wholeNumber)
                if numbers.count == items.count { return "[" + numbers.joined(separator: ", ") + "]" }
            }
            translation.helpers.insert("rt_ints")
            return "rt_ints(\(try text(name)))"
        }

        /// `3` or `-1` for a whole-number literal.
        private func wholeNumber(_ e: Expr) -> String? {
            switch e {
            case .number(let n, _) where n == n.rounded() && Swift.abs(n) < 1e15: return Python.number(n)
            case .unary(.negate, .number(let n, _), _) where n == n.rounded() && Swift.abs(n) < 1e15: return Python.number(-n)
            default: return nil
            }
        }
    }

    typealias Rule = (Arguments) throws -> String

    /// Builtins that only move or shape values, or compute with torch directly.
    static let rules: [String: Rule] = {
        var r: [String: Rule] = [
            "softmax": { a in "torch.softmax(\(try a.text("x")), dim=\(try a.int("axis")))" },
            "log_softmax": { a in "F.log_softmax(\(try a.text("x")), dim=\(try a.int("axis")))" },
            "leaky_relu": { a in "F.leaky_relu(\(try a.text("x")), \(try a.text("slope")))" },
            "normalize": { a in "F.normalize(\(try a.text("x")), p=2.0, dim=\(try a.int("axis")), eps=\(try a.text("eps")))" },
            "clamp": { a in "torch.clamp(\(try a.text("x")), min=\(try a.text("min")), max=\(try a.text("max")))" },
            "matmul": { a in "torch.matmul(\(try a.text("a")), \(try a.text("b")))" },
            "reshape": { a in "\(try a.text("x")).reshape(\(try a.ints("shape")))" },
            "flatten": { a in "torch.flatten(\(try a.text("x")), 1)" },
            "permute": { a in "\(try a.text("x")).permute(\(try a.ints("dims")))" },
            "gather": { a in "torch.gather(\(try a.text("x")), \(try a.int("axis")), \(try a.text("index")).long())" },
            "one_hot": { a in "F.one_hot(\(try a.text("labels")).long(), \(try a.int("classes"))).to(torch.float32)" },
            "zeros": { a in "torch.zeros(\(try a.ints("shape")), device=DEVICE)" },
            "ones": { a in "torch.ones(\(try a.ints("shape")), device=DEVICE)" },
            "eye": { a in "torch.eye(\(try a.int("n")), device=DEVICE)" },
            "arange": { a in
                "torch.arange(\(try a.text("start")), \(try a.text("end")), \(try a.text("step")), dtype=torch.float32, device=DEVICE)"
            },
            "detach": { a in "\(try a.text("x")).detach()" },
            "len": { a in "len(\(try a.text("value")))" },
            "str": { a in "str(\(try a.text("value")))" },
            "range": { a in "range(\(try a.int("start")), \(try a.int("end")))" },
            "append": { a in "(\(try a.text("list")) + [\(try a.text("item"))])" },
            "list": { a in "list(\(try a.text("values")))" },
            "tensor": { a in
                if case .list? = a.expressions["values"], a.texts["values"]?.hasPrefix("rt_tensor(") == true {
                    return try a.text("values")
                }
                a.translation.helpers.insert("rt_tensor")
                return "rt_tensor(\(try a.text("values")))"
            },
            "print": { a in "print(\(a.rest.joined(separator: ", ")))" },
            "error": { a in
                a.translation.helpers.insert("rt_error")
                return "rt_error(\(try a.text("message")))"
            },
            "nll": { a in
                a.translation.helpers.insert("rt_nll")
                return "rt_nll(\(try a.text("log_probs")), \(try a.text("target")), reduction=\(try a.text("reduction")))"
            },
            "mse": { a in "F.mse_loss(\(try a.text("input")), \(try a.text("target")), reduction=\(try a.text("reduction")))" },
            "l1": { a in "F.l1_loss(\(try a.text("input")), \(try a.text("target")), reduction=\(try a.text("reduction")))" },
            "kl_div": { a in "F.kl_div(\(try a.text("input")), \(try a.text("target")), reduction=\(try a.text("reduction")))" },
            "bce_with_logits": { a in
                "F.binary_cross_entropy_with_logits(\(try a.text("logits")), \(try a.text("target")), reduction=\(try a.text("reduction")))"
            },
        ]
        // Helpers by the builtin's name, with its parameters in order.
        let helperCalls: [String: [String]] = [
            "exp": ["x"], "log": ["x"], "sqrt": ["x"], "cos": ["x"], "sin": ["x"], "abs": ["x"], "relu": ["x"], "tanh": ["x"],
            "sigmoid": ["x"], "gelu": ["x"], "silu": ["x"], "sum": ["x", "axis", "keepdims"], "mean": ["x", "axis", "keepdims"],
            "max": ["x", "axis", "keepdims"], "min": ["x", "axis", "keepdims"], "logsumexp": ["x", "axis", "keepdims"],
            "argmax": ["x", "axis", "keepdims"], "maximum": ["a", "b"], "minimum": ["a", "b"],
            "transpose": ["x", "dim0", "dim1"], "concat": ["tensors", "axis"], "stack": ["tensors", "axis"],
            "where": ["condition", "a", "b"], "item": ["x"], "type": ["value"], "round": ["x", "digits"],
            "term": ["name", "value"],
            "cross_entropy": ["logits", "target", "label_smoothing", "reduction"],
            "cosine_similarity": ["a", "b", "axis", "eps"],
        ]
        // The helpers' own defaults: an argument not given whose Retort default is the same is left out.
        let helperDefaults: [String: String] = [
            "axis": "None", "keepdims": "False", "label_smoothing": "0", "reduction": "\"mean\"", "dim0": "-2", "dim1": "-1",
            "digits": "0", "eps": "1e-08",
        ]
        for (name, parameters) in helperCalls {
            r[name] = { a in
                a.translation.helpers.insert("rt_" + name)
                var texts = try parameters.map { (parameter: $0, text: try a.text($0)) }
                while let last = texts.last, !a.given(last.parameter), helperDefaults[last.parameter] == last.text {
                    texts.removeLast()
                }
                return "rt_\(name)(\(texts.map(\.text).joined(separator: ", ")))"
            }
        }
        return r
    }()

    /// Builtins refused with a reason of their own.
    static let refusals: [String: String] = [
        "randn": "it draws from Retort's random generator, which PyTorch cannot reproduce (and which also orders the batches)",
        "rand": "it draws from Retort's random generator, which PyTorch cannot reproduce (and which also orders the batches)",
        "features": "the loss reads a model's inner layers; export_torch translates losses of the outputs they are given",
        "no_grad": "it takes one expression: no_grad(teacher(x))",
    ]

    func builtin(_ b: Builtin, _ arguments: [ArgumentNode], _ scope: Scope, at range: SourceRange, nameRange: SourceRange)
        throws -> String
    {
        guard let rule = Self.rules[b.name] else {
            let reason = Self.refusals[b.name] ?? "there is no PyTorch translation for it in a loss"
            throw refuse("`\(b.name)` cannot be exported to PyTorch: \(reason)", at: range)
        }
        var bound = Arguments(builtin: b, translation: self, range: range)
        var positional = 0
        for argument in arguments {
            let text = try expression(argument.value, scope)
            if let label = argument.label {
                guard b.parameters.contains(where: { $0.name == label && !$0.variadic }) else {
                    throw refuse("\(b.name) has no parameter '\(label)'", at: argument.range)
                }
                bound.texts[label] = text
                bound.expressions[label] = argument.value
            } else if positional < b.parameters.count, b.parameters[positional].variadic {
                bound.rest.append(text)
            } else {
                guard positional < b.parameters.count else {
                    throw refuse("\(b.name) takes at most \(b.parameters.count) arguments: \(b.signature)", at: argument.range)
                }
                bound.texts[b.parameters[positional].name] = text
                bound.expressions[b.parameters[positional].name] = argument.value
                positional += 1
            }
        }
        if b.name == "tensor", bound.given("requires_grad"), bound.texts["requires_grad"] != "False" {
            throw refuse("the loss makes a trainable tensor; export_torch trains the student's parameters only", at: range)
        }
        return try rule(bound)
    }

    // MARK: - Helpers in loss.py

    /// Each helper's Python source, in the order loss.py lists them, and the helpers it uses.
    static let helperSources: [(name: String, uses: [String], source: String)] =
        [
            ("_UNSET", [], "_UNSET = object()  # a default computed in the function body, as Retort computes it at each call"),
            (
                "rt_tensor", [],
                """
                def rt_tensor(values, shape=None):
                    \"\"\"A float32 tensor on the training device, as a Retort tensor literal.\"\"\"
                    if isinstance(values, torch.Tensor):
                        t = values.to(torch.float32)
                    elif isinstance(values, (list, tuple)) and values and isinstance(values[0], torch.Tensor):
                        t = torch.stack(list(values)).to(torch.float32)
                    else:
                        t = torch.tensor(values, dtype=torch.float32, device=DEVICE)
                    return t.reshape(shape) if shape is not None else t
                """
            ),
            (
                "rt_is_tensor", [],
                """
                def rt_is_tensor(x):
                    return isinstance(x, torch.Tensor)
                """
            ),
            (
                "rt_as_tensor", [],
                """
                def rt_as_tensor(x):
                    return x if isinstance(x, torch.Tensor) else torch.tensor(float(x), dtype=torch.float32, device=DEVICE)
                """
            ),
            (
                "rt_index", [],
                """
                def rt_index(x):
                    \"\"\"A whole number for an index, an axis or a count (Retort reads 3.0 and one-element tensors as 3).\"\"\"
                    return int(x.item()) if isinstance(x, torch.Tensor) else int(x)
                """
            ),
            (
                "rt_ints", [],
                """
                def rt_ints(x):
                    \"\"\"A shape or an axis order: a list or tensor of whole numbers as Python ints.\"\"\"
                    if isinstance(x, torch.Tensor):
                        return [int(v) for v in x.reshape(-1).tolist()]
                    if isinstance(x, (int, float)):
                        return [int(x)]
                    return [int(v) for v in x]
                """
            ),
            (
                "rt_count", [],
                """
                def rt_count(x):
                    return x.numel() if isinstance(x, torch.Tensor) else len(x)
                """
            ),
            (
                "rt_transpose", [],
                """
                def rt_transpose(x, dim0=-2, dim1=-1):
                    \"\"\"Two axes swapped; a tensor of rank below 2 is returned as it is, as Retort's.\"\"\"
                    return x if x.dim() < 2 else x.transpose(dim0, dim1)
                """
            ),
            (
                "rt_tensors", [],
                """
                def rt_tensors(x):
                    \"\"\"A list of tensors: a list as it is, a tensor's rows.\"\"\"
                    return list(x.unbind(0)) if isinstance(x, torch.Tensor) else [rt_as_tensor(v) for v in x]
                """
            ),
            (
                "rt_type", [],
                """
                def rt_type(x):
                    \"\"\"Retort's type(x): the name of the value's type.\"\"\"
                    if isinstance(x, torch.Tensor):
                        return "tensor"
                    if isinstance(x, bool):
                        return "bool"
                    if isinstance(x, (int, float)):
                        return "number"
                    if isinstance(x, str):
                        return "string"
                    if isinstance(x, dict):
                        return "record"
                    if x is None:
                        return "none"
                    if isinstance(x, range):
                        return "range"
                    if callable(x):
                        return "function"
                    return "tuple" if isinstance(x, tuple) else "list"
                """
            ),
            (
                "rt_term", [],
                """
                def rt_term(name, x):
                    \"\"\"A named part of the loss: recorded for train.py's history, returned unchanged.\"\"\"
                    TERMS.append((name, rt_as_tensor(x)))
                    return x
                """
            ),
            (
                "rt_error", [],
                """
                def rt_error(message):
                    \"\"\"Retort's error(message): the loss refuses its input.\"\"\"
                    raise ValueError(message)
                """
            ),
            (
                "rt_item", [],
                """
                def rt_item(x):
                    return x.item() if isinstance(x, torch.Tensor) else x
                """
            ),
            (
                "rt_round", [],
                """
                def rt_round(x, digits=0):
                    \"\"\"Rounded half away from zero, as Retort's round (Python's rounds half to even).\"\"\"
                    scale = 10.0 ** digits
                    return math.copysign(math.floor(abs(x) * scale + 0.5), x) / scale
                """
            ),
            (
                "rt_where", [],
                """
                def rt_where(condition, a, b):
                    \"\"\"a where the condition is non-zero, else b.\"\"\"
                    return torch.where(rt_as_tensor(condition) != 0, a, b)
                """
            ),
            (
                "rt_maximum", [],
                """
                def rt_maximum(a, b):
                    if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
                        return max(a, b)
                    return torch.maximum(rt_as_tensor(a), rt_as_tensor(b))
                """
            ),
            (
                "rt_minimum", [],
                """
                def rt_minimum(a, b):
                    if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
                        return min(a, b)
                    return torch.minimum(rt_as_tensor(a), rt_as_tensor(b))
                """
            ),
            (
                "rt_reduce", [],
                """
                def rt_reduce(function, x, axis, keepdims):
                    \"\"\"A reduction over one axis, or over all of them (axis None), keeping them as size 1 if asked.\"\"\"
                    x = rt_as_tensor(x)
                    if axis is None:
                        return function(x, dim=list(range(x.dim())), keepdim=True) if keepdims and x.dim() else function(x.reshape(-1), dim=0)
                    return function(x, dim=int(axis), keepdim=keepdims)
                """
            ),
            (
                "rt_sum", [],
                """
                def rt_sum(x, axis=None, keepdims=False):
                    return rt_reduce(torch.sum, x, axis, keepdims)
                """
            ),
            (
                "rt_mean", [],
                """
                def rt_mean(x, axis=None, keepdims=False):
                    return rt_reduce(torch.mean, x, axis, keepdims)
                """
            ),
            (
                "rt_logsumexp", [],
                """
                def rt_logsumexp(x, axis=None, keepdims=False):
                    return rt_reduce(torch.logsumexp, x, axis, keepdims)
                """
            ),
            (
                "rt_max", [],
                """
                def rt_max(x, axis=None, keepdims=False):
                    \"\"\"Largest value over an axis or of everything; of two plain numbers, the larger.\"\"\"
                    if not isinstance(x, torch.Tensor) and isinstance(axis, (int, float)) and not isinstance(axis, bool):
                        return max(x, axis)
                    return rt_reduce(torch.amax, x, axis, keepdims)
                """
            ),
            (
                "rt_min", [],
                """
                def rt_min(x, axis=None, keepdims=False):
                    \"\"\"Smallest value over an axis or of everything; of two plain numbers, the smaller.\"\"\"
                    if not isinstance(x, torch.Tensor) and isinstance(axis, (int, float)) and not isinstance(axis, bool):
                        return min(x, axis)
                    return rt_reduce(torch.amin, x, axis, keepdims)
                """
            ),
            (
                "rt_argmax", [],
                """
                def rt_argmax(x, axis=None, keepdims=False):
                    \"\"\"Index of the largest value, as a float tensor (Retort's tensors hold floats).\"\"\"
                    if axis is None:
                        return torch.argmax(x.reshape(-1)).to(torch.float32)
                    return torch.argmax(x, dim=int(axis), keepdim=keepdims).to(torch.float32)
                """
            ),
            (
                "rt_concat", [],
                """
                def rt_concat(tensors, axis=0):
                    return torch.cat(rt_tensors(tensors), dim=int(axis))
                """
            ),
            (
                "rt_stack", [],
                """
                def rt_stack(tensors, axis=0):
                    return torch.stack(rt_tensors(tensors), dim=int(axis))
                """
            ),
            (
                "rt_cross_entropy", [],
                """
                def rt_cross_entropy(logits, target, label_smoothing=0, reduction="mean"):
                    \"\"\"Retort's cross_entropy: class indices (labels of -1 ignored) or probabilities of the logits' shape;
                    logits [N, T, V] count each position as a row.\"\"\"
                    classes = logits.shape[-1]
                    rows = logits.reshape(-1, classes)
                    if target.shape == logits.shape:
                        loss = F.cross_entropy(rows, target.reshape(-1, classes), label_smoothing=label_smoothing, reduction=reduction)
                    else:
                        loss = F.cross_entropy(rows, target.reshape(-1).long(), ignore_index=-1, label_smoothing=label_smoothing,
                                               reduction=reduction)
                    return loss.reshape(logits.shape[:-1]) if reduction == "none" else loss
                """
            ),
            (
                "rt_nll", [],
                """
                def rt_nll(log_probs, target, reduction="mean"):
                    \"\"\"Retort's nll: log-probabilities [N, C] or [N, T, V] (each position a row), labels of -1 ignored.\"\"\"
                    loss = F.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]), target.reshape(-1).long(), ignore_index=-1,
                                      reduction=reduction)
                    return loss.reshape(log_probs.shape[:-1]) if reduction == "none" else loss
                """
            ),
            (
                "rt_cosine_similarity", [],
                """
                def rt_cosine_similarity(a, b, axis=1, eps=1e-8):
                    \"\"\"a·b / (max(‖a‖, eps) · max(‖b‖, eps)) along an axis, as Retort computes it.\"\"\"
                    axis = int(axis)
                    na = (a * a).sum(dim=axis).sqrt().clamp(min=eps)
                    nb = (b * b).sum(dim=axis).sqrt().clamp(min=eps)
                    return (a * b).sum(dim=axis) / (na * nb)
                """
            ),
        ] + ["exp", "log", "sqrt", "cos", "sin", "abs", "relu", "tanh", "sigmoid", "gelu", "silu"].map(elementwiseHelper)
        + [("rt_eq", "=="), ("rt_ne", "!="), ("rt_lt", "<"), ("rt_le", "<="), ("rt_gt", ">"), ("rt_ge", ">=")].map(
            comparisonHelper)

    /// `rt_exp(x)`: torch's on a tensor, math's on a number (schedules compute with numbers).
    private static func elementwiseHelper(_ name: String) -> (name: String, uses: [String], source: String) {
        let number: String
        switch name {
        case "abs": number = "abs(x)"
        case "relu": number = "max(x, 0.0)"
        case "sigmoid": number = "1 / (1 + math.exp(-x))"
        case "gelu": number = "0.5 * x * (1 + math.erf(x / math.sqrt(2)))"
        case "silu": number = "x / (1 + math.exp(-x))"
        default: number = "math.\(name)(x)"
        }
        let tensor = ["gelu": "F.gelu(x)", "silu": "F.silu(x)"][name] ?? "torch.\(name)(x)"
        return (
            "rt_\(name)", [],
            """
            def rt_\(name)(x):
                return \(tensor) if isinstance(x, torch.Tensor) else \(number)
            """
        )
    }

    /// `rt_lt(a, b)`: a Python truth value for numbers, 0/1 floats for tensors (as Retort's).
    private static func comparisonHelper(_ pair: (String, String)) -> (name: String, uses: [String], source: String) {
        (
            pair.0, ["rt_is_tensor"],
            """
            def \(pair.0)(a, b):
                r = a \(pair.1) b
                return r.to(torch.float32) if isinstance(r, torch.Tensor) else r
            """
        )
    }

    /// What each helper calls of the others.
    static let helperDependencies: [String: [String]] = [
        "rt_tensors": ["rt_as_tensor"], "rt_term": ["rt_as_tensor"], "rt_where": ["rt_as_tensor"],
        "rt_maximum": ["rt_as_tensor"], "rt_minimum": ["rt_as_tensor"], "rt_reduce": ["rt_as_tensor"],
        "rt_sum": ["rt_reduce"], "rt_mean": ["rt_reduce"], "rt_logsumexp": ["rt_reduce"], "rt_max": ["rt_reduce"],
        "rt_min": ["rt_reduce"], "rt_concat": ["rt_tensors"], "rt_stack": ["rt_tensors"],
    ]

    /// The helpers used, with what they need, as loss.py's text.
    func helperText() -> String {
        var needed = Set<String>()
        func add(_ name: String) {
            guard needed.insert(name).inserted else { return }
            for d in Self.helperDependencies[name] ?? [] { add(d) }
        }
        for h in helpers { add(h) }
        needed.remove("rt_is_tensor")
        return Self.helperSources.filter { needed.contains($0.name) }.map(\.source).joined(separator: "\n\n\n")
    }
}
