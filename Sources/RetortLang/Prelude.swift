/// The standard distillation losses, written in Retort itself so `source(kd)` shows what they compute.
enum Prelude {
    static let text = """
        # π, for schedules such as fn(p) = 0.5 * (1 + cos(pi * p)).
        let pi = 3.141592653589793

        # Soft targets at temperature T: a teacher's logits, or several teachers' weighted average.
        fn soft_targets(t, T = 1) {
          if type(t) == "record" {
            let p = t.weights[0] * softmax(t.logits[0] / T)
            for i in 1..<len(t.logits) { p = p + t.weights[i] * softmax(t.logits[i] / T) }
            p
          } else {
            softmax(t / T)
          }
        }

        # Hinton et al. (2015): KL to the teacher's softened distribution, scaled by T² so its
        # gradients keep their size as T changes, mixed with cross-entropy on the labels.
        # Each part is a named term, so fit and distill record it and plot(h) draws it.
        fn kd(s, t, y, T = 4, alpha = 0.9) =
            term("kd", alpha * T^2 * kl_div(log_softmax(s / T), soft_targets(t, T)))
          + term("ce", (1 - alpha) * cross_entropy(s, y))

        # The soft term alone: needs no labels.
        fn soft_kd(s, t, y = none, T = 4) = T^2 * kl_div(log_softmax(s / T), soft_targets(t, T))

        # Reverse KL, KL(student ‖ teacher): mode-seeking rather than mass-covering.
        fn reverse_kd(s, t, y, T = 4, alpha = 0.9) =
            alpha * T^2 * kl_div(log_softmax(t / T), softmax(s / T))
          + (1 - alpha) * cross_entropy(s, y)

        # Multi-teacher: the teachers' weighted soft targets (distill(..., from: [a, b], weights: [...])).
        fn multi_kd(s, t, y, T = 4, alpha = 0.9) = kd(s, t, y, T: T, alpha: alpha)

        # FitNets (Romero et al. 2015): student features, projected by a trainable adapter to the
        # teacher's width, regress the teacher's features.
        fn hint(student_features, teacher_features, adapter) = mse(adapter(student_features), teacher_features)

        # Attention transfer (Zagoruyko & Komodakis 2017): compare where the networks look, as the
        # normalised channel mean of squared activations, [N, C, H, W] -> [N, H·W].
        fn attention_map(f) = normalize(flatten(mean(f ^ 2, axis: 1)), axis: 1)
        fn attention(student_features, teacher_features) =
            mean((attention_map(student_features) - attention_map(teacher_features)) ^ 2)

        # Decoupled KD (Zhao et al. 2022): the target-class term (TCKD) and the non-target term
        # (NCKD) of the KD loss, weighted separately.
        fn dkd(s, t, y, alpha = 1, beta = 8, T = 4) {
          let gt = one_hot(y, s.shape[1])
          let other = 1 - gt
          let ps = softmax(s / T)
          let pt = softmax(t / T)
          let bs = stack([sum(ps * gt, axis: 1), sum(ps * other, axis: 1)], axis: 1)
          let bt = stack([sum(pt * gt, axis: 1), sum(pt * other, axis: 1)], axis: 1)
          let n = s.shape[0]
          let tckd = kl_div(log(bs), bt, reduction: "sum") * T^2 / n
          let nckd = kl_div(log_softmax(s / T - 1000 * gt), softmax(t / T - 1000 * gt), reduction: "sum") * T^2 / n
          alpha * tckd + beta * nckd
        }

        # Schedules for any loss argument: functions of the training progress p in [0, 1].
        fn ramp(start, stop, until = 1) = fn(p) = start + (stop - start) * minimum(p / until, 1)
        fn two_stage(first, second, at = 0.5) = fn(p) = if p < at { first } else { second }
        """
}
