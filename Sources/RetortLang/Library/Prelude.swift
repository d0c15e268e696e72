/// The standard distillation losses, written in Retort itself so `source(kd)` shows what they compute.
enum Prelude {
    static let text = """
        # π, for schedules such as fn(p) = 0.5 * (1 + cos(pi * p)).
        let pi = 3.141592653589793

        # Soft targets at temperature T: a teacher's logits, or several teachers' weighted average.
        # Several teachers' weights are proportions: divided by their sum, so the targets stay a
        # distribution whatever the weights add up to ([1, 3] is [0.25, 0.75]); negative weights, or
        # all zero, are refused. distill(..., weights:) builds the record this reads.
        fn soft_targets(t, T = 1) {
          if type(t) == "record" {
            let w = tensor(t.weights)
            if len(w) != len(t.logits) { error("soft_targets: " + str(len(w)) + " weights for " + str(len(t.logits)) + " teachers") }
            if item(min(w)) < 0 or item(sum(w)) <= 0 { error("soft_targets: the weights " + str(t.weights) + " must be proportions: non-negative, not all zero") }
            let p = w[0] * softmax(t.logits[0] / T)
            for i in 1..<len(t.logits) { p = p + w[i] * softmax(t.logits[i] / T) }
            p / sum(w)
          } else {
            softmax(t / T)
          }
        }

        # A temperature is positive and a mixing weight a fraction; T = -1 or alpha = 2 trained without
        # an error on a loss that was no longer a divergence (a negative ce term). Numbers only: a
        # schedule is a number by the time a loss reads it.
        fn check_mix(name, T, weight, weight_name) {
          if type(T) == "number" and T <= 0 { error(name + ": T must be > 0, got " + str(T)) }
          if type(weight) == "number" and (weight < 0 or weight > 1) {
            error(name + ": " + weight_name + " must be between 0 and 1, got " + str(weight))
          }
        }

        # KL(p ‖ q) at each position, from log q and p, summed over the last axis (the classes, or a
        # language model's vocabulary): [N, C] gives [N], [N, T, V] gives [N, T].
        fn kl_rows(log_q, p) = sum(kl_div(log_q, p, reduction: "none"), axis: -1)

        # The mean over the positions that count: those whose label is not -1 (a sequence's positions
        # past its end), or every position when there are no labels. For classification logits
        # [N, C] with labels [N] it is the batch mean, kl_div's "batchmean". Positions that do not
        # count are left out with where, not multiplied by 0: an infinite logit there would be NaN.
        fn masked_mean(values, y = none) {
          if type(y) == "none" {
            mean(values)
          } else {
            let keep = y >= 0
            sum(where(keep, values, 0)) / sum(keep)
          }
        }

        # Hinton et al. (2015): the forward KL(teacher ‖ student) to the teacher's softened
        # distribution (mass-covering: the student must put mass wherever the teacher does), scaled by
        # T² so its gradients keep their size as T changes, mixed with cross-entropy on the labels.
        # Logits [N, C] with labels [N], or [N, T, V] with [N, T] averaged over the labelled positions.
        # Each part is a named term, so fit and distill record it and plot(h) draws it.
        fn kd(s, t, y, T = 4, alpha = 0.9) {
          check_mix("kd", T, alpha, "alpha")
          term("kd", alpha * T^2 * masked_mean(kl_rows(log_softmax(s / T), soft_targets(t, T)), y))
            + term("ce", (1 - alpha) * cross_entropy(s, y))
        }

        # The forward KL(teacher ‖ student) alone: needs no labels (without them every position counts).
        fn soft_kd(s, t, y = none, T = 4) {
          check_mix("soft_kd", T, 0, "alpha")
          T^2 * masked_mean(kl_rows(log_softmax(s / T), soft_targets(t, T)), y)
        }

        # The reverse KL(student ‖ teacher) (MiniLLM, Gu et al. 2024): mode-seeking, the student
        # concentrates on what the teacher finds most likely instead of covering all of it.
        fn reverse_kd(s, t, y, T = 4, alpha = 0.9) {
          check_mix("reverse_kd", T, alpha, "alpha")
          term("kd", alpha * T^2 * masked_mean(kl_rows(log_softmax(t / T), softmax(s / T)), y))
            + term("ce", (1 - alpha) * cross_entropy(s, y))
        }

        # The generalised Jensen–Shannon divergence of GKD (Agarwal et al. 2024; TRL's
        # generalized_jsd_loss): beta = 0 is the forward KL(teacher ‖ student), beta = 1 the reverse
        # KL(student ‖ teacher), and between them beta·KL(teacher ‖ m) + (1 − beta)·KL(student ‖ m) with
        # the mixture m = beta·teacher + (1 − beta)·student. Summed over the vocabulary, averaged over
        # the labelled positions; no T² factor, as TRL.
        fn jsd(s, t, y = none, beta = 0.5, T = 1) {
          check_mix("jsd", T, beta, "beta")
          let ls = log_softmax(s / T)
          let lt = log_softmax(t / T)
          if beta == 0 {
            masked_mean(kl_rows(ls, exp(lt)), y)
          } else {
            if beta == 1 {
              masked_mean(kl_rows(lt, exp(ls)), y)
            } else {
              # log m as a logsumexp (as TRL): log(beta·exp(lt) + ...) underflowed to log 0 once the
              # logits were ~90 apart, giving NaN losses and infinite gradients.
              let lm = logsumexp(stack([lt + log(beta), ls + log(1 - beta)]), axis: 0)
              masked_mean(beta * kl_rows(lm, exp(lt)) + (1 - beta) * kl_rows(lm, exp(ls)), y)
            }
          }
        }

        # Multi-teacher: the forward KL to the teachers' weighted soft targets (distill(..., from: [a, b],
        # weights: [...]); a hand-built {logits: [...], weights: [...]} record is normalised the same way).
        fn multi_kd(s, t, y, T = 4, alpha = 0.9) = kd(s, t, y, T: T, alpha: alpha)

        # FitNets (Romero et al. 2015): student features, projected by a trainable adapter to the
        # teacher's width, regress the teacher's features.
        fn hint(student_features, teacher_features, adapter) = mse(adapter(student_features), teacher_features)

        # TinyBERT (Jiao et al. 2020): the student's attention maps [N, heads, T, T] regress the
        # teacher's, layer by layer; attentions(model, x) reads them (the head counts must match).
        # They are the softmax weights, where TinyBERT's code compares the scores before it. Its
        # hidden-state loss is hint(features(student, x, k), features(teacher, x, j), adapter).
        fn attention_mse(student_maps, teacher_maps) = mse(student_maps, teacher_maps)

        # DistilBERT (Sanh et al. 2019): align the directions of the student's and the teacher's
        # hidden states, 1 − cosine similarity over the last axis, averaged over the labelled
        # positions when labels y are given (DistilBERT leaves padding out), else over all.
        fn cosine_hint(student_features, teacher_features, y = none) =
            masked_mean(1 - cosine_similarity(student_features, teacher_features, axis: -1), y)

        # Attention transfer (Zagoruyko & Komodakis 2017): compare where the networks look, as the
        # normalised channel mean of squared activations, [N, C, H, W] -> [N, H·W].
        fn attention_map(f) = normalize(flatten(mean(f ^ 2, axis: 1)), axis: 1)
        fn attention(student_features, teacher_features) =
            mean((attention_map(student_features) - attention_map(teacher_features)) ^ 2)

        # Decoupled KD (Zhao et al. 2022): the target-class term (TCKD) and the non-target term
        # (NCKD) of the KD loss, weighted separately, each averaged over the labelled rows. Rows are
        # the classes' axis, the last: [N, C] as it is, a sequence model's [N, T, V] as [N·T, V],
        # its positions labelled -1 counting for nothing. The loss alone: the paper trains on
        # cross_entropy(s, y) + a warm-up weight (min(epoch / 20, 1)) times it.
        fn dkd(s, t, y, alpha = 1, beta = 8, T = 4) {
          check_mix("dkd", T, 0, "alpha")
          let classes = s.shape[s.rank - 1]
          let rs = reshape(s, [-1, classes])
          let rt = reshape(t, [-1, classes])
          let ry = reshape(y, [-1])
          let gt = one_hot(maximum(ry, 0), classes)
          let other = 1 - gt
          let ps = softmax(rs / T)
          let pt = softmax(rt / T)
          let bs = stack([sum(ps * gt, axis: 1), sum(ps * other, axis: 1)], axis: 1)
          let bt = stack([sum(pt * gt, axis: 1), sum(pt * other, axis: 1)], axis: 1)
          let tckd = T^2 * masked_mean(kl_rows(log(bs), bt), ry)
          let nckd = T^2 * masked_mean(kl_rows(log_softmax(rs / T - 1000 * gt), softmax(rt / T - 1000 * gt)), ry)
          alpha * tckd + beta * nckd
        }

        # Schedules for any loss argument: functions of the training progress p in [0, 1].
        fn ramp(start, stop, until = 1) = fn(p) = start + (stop - start) * minimum(p / until, 1)
        fn two_stage(first, second, at = 0.5) = fn(p) = if p < at { first } else { second }
        """
}
