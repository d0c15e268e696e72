import ArgumentParser
import RetortNN
import RetortTensor

/// A speed-up `retort bench --ab` switches on and off every two steps inside one process, so that
/// both modes see the same machine: on these shared machines two separate runs at two threads
/// differ by up to 1.6x, which hides effects of a few percent.
enum BenchSwitch: String, CaseIterable, ExpressibleByArgument {
    /// A linear layer's weights packed once where they are used again unchanged (`PackedWeights`).
    case packedWeights = "packed-weights"
    /// Products at least 512 wide on a matmul primitive made once per shape (`MatmulPrimitives`).
    case widePrimitives = "wide-primitives"
    /// Both of the above: every product on `dnnl_sgemm` when off.
    case primitives
    /// A linear layer's weights packed once for Retort's own AVX2 GEMM where OpenBLAS would run the
    /// product (large products on CPUs without AVX-512, `PackedWeights.usesOwnGemm`); off leaves
    /// them to OpenBLAS unpacked.
    case ownGemm = "own-gemm"
    /// The large products OpenBLAS would run with neither matrix transposed on Retort's own AVX2 GEMM,
    /// B packed on each call (`BLAS.largeProductsOnOwnGemm`); off leaves them to OpenBLAS.
    case ownPlain = "own-plain"
    /// A product with B transposed to fewer than 16 outputs, or 32 with a long inner dimension (a
    /// linear layer's forward to a few classes, a few-tap convolution's weight gradient), on
    /// Retort's own loop rather than `dnnl_sgemm` (`BLAS.narrowOutputsOnOwnLoop`).
    case narrowOutputs = "narrow-outputs"
    /// A product on `dnnl_sgemm` with B transposed and at least 128 rows on a transposed copy of B
    /// (`BLAS.copiesTransposedB`).
    case transposedCopy = "transposed-copy"
    /// The own loop's few rows of weights copied further apart when they are a multiple of 4 KB apart
    /// (`BLAS.spacesNarrowWeights`).
    case spacedWeights = "spaced-weights"
    /// A weight gradient's rows of C split over the threads, one `dnnl_sgemm` each
    /// (`BLAS.splitsWeightGradientRows`); off leaves the split to oneDNN.
    case weightGradientRows = "weight-gradient-rows"
    /// Retort's own loops split over the GEMM's threads (`Parallel`); off runs them on one thread.
    case parallelLoops = "parallel-loops"
    /// Retort's elementwise C loops (GELU, ReLU, the optimizers, the bias add, column sums) on
    /// AVX-512 where the CPU has it; off caps them at AVX2 (layer norm and attention heads stay on
    /// AVX2 either way).
    case avx512
    /// A convolution and the ReLU after it as one pass each way in training
    /// (`Variable.conv2dReLUTraining`); off runs them apart.
    case convReLU = "conv-relu"
    /// Inference's direct convolution for a layer of at most 16 taps (the CNN's one-channel first
    /// layer), each tap's weights in a register; off unfolds it for a GEMM.
    case fewTaps = "few-taps"
    /// Int8 layers in a row handing each other their outputs quantised onto the next one's grid
    /// (`Int8Chain`); off requantises each to floats and quantises them again.
    case int8Chain = "int8-chain"
    /// Generation's samples shared out over the threads, a group each through the whole model
    /// (`Generation.sharesSamples`); off splits each product and pass instead.
    case sampleGroups = "sample-groups"
    /// Sums, differences, products and quotients of same-shaped tensors and the gradients'
    /// accumulation split over the threads (`Tensor.splitsElementwise`); off runs them on one.
    case elementwiseBlocks = "elementwise-blocks"

    /// The returned closure turns the speed-up on (true) or off (false); it restores what was set
    /// before when called with true, so `on` is whatever the environment chose.
    func toggle() -> (Bool) -> Void {
        switch self {
        case .packedWeights:
            let before = PackedWeights.isEnabled
            return { PackedWeights.isEnabled = $0 ? before : false }
        case .widePrimitives:
            let before = MatmulPrimitives.isEnabled
            return { MatmulPrimitives.isEnabled = $0 ? before : false }
        case .ownGemm:
            let before = PackedWeights.usesOwnGemm
            return { PackedWeights.usesOwnGemm = $0 ? before : false }
        case .ownPlain:
            let before = BLAS.largeProductsOnOwnGemm
            return { BLAS.largeProductsOnOwnGemm = $0 ? before : false }
        case .primitives:
            let (packed, wide) = (BenchSwitch.packedWeights.toggle(), BenchSwitch.widePrimitives.toggle())
            return {
                packed($0)
                wide($0)
            }
        case .narrowOutputs:
            let before = BLAS.narrowOutputsOnOwnLoop
            return { BLAS.narrowOutputsOnOwnLoop = $0 ? before : false }
        case .transposedCopy:
            let before = BLAS.copiesTransposedB
            return { BLAS.copiesTransposedB = $0 ? before : false }
        case .spacedWeights:
            let before = BLAS.spacesNarrowWeights
            return { BLAS.spacesNarrowWeights = $0 ? before : false }
        case .weightGradientRows:
            let before = BLAS.splitsWeightGradientRows
            return { BLAS.splitsWeightGradientRows = $0 ? before : false }
        case .parallelLoops:
            let before = Parallel.threshold
            return { Parallel.threshold = $0 ? before : 0 }
        case .convReLU:
            let before = Variable.fusesTrainingReLU
            return { Variable.fusesTrainingReLU = $0 ? before : false }
        case .fewTaps:
            let before = Tensor.convolvesFewTapsDirectly
            return { Tensor.convolvesFewTapsDirectly = $0 ? before : false }
        case .int8Chain:
            let before = Int8Chain.isEnabled
            return { Int8Chain.isEnabled = $0 ? before : false }
        case .sampleGroups:
            let before = Generation.sharesSamples
            return { Generation.sharesSamples = $0 ? before : false }
        case .elementwiseBlocks:
            let before = Tensor.splitsElementwise
            return { Tensor.splitsElementwise = $0 ? before : false }
        case .avx512:
            let before = VectorMath.widest
            return { VectorMath.widest = $0 ? before : Swift.min(before, 1) }
        }
    }
}
