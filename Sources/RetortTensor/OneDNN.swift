import CDNNL

/// oneDNN's single-precision GEMM and matmul primitive: the one place Retort calls oneDNN (through
/// `BLAS.gemm`, `MatmulPrimitives` and `PackedWeights`).
///
/// Debian's oneDNN runs its threads on OpenMP, so its thread count is OpenMP's, set beside
/// OpenBLAS's by `BLAS.threadCount`.
@usableFromInline
enum OneDNN {
    /// `C = alpha * op(A) @ op(B) + beta * C`, row-major, as `BLAS.gemm` documents. Returns false
    /// when oneDNN refuses the call (it never has for valid sizes), so the caller can fall back.
    @usableFromInline
    static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, transposeA: Bool,
        b: UnsafePointer<Float>, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float
    ) -> Bool {
        gemm(
            m: m, n: n, k: k, a: a, lda: transposeA ? m : k, transposeA: transposeA, b: b, ldb: transposeB ? k : n,
            transposeB: transposeB, c: c, ldc: n, alpha: alpha, beta: beta)
    }

    /// The same on matrices whose rows lie `lda`, `ldb` and `ldc` values apart (parts of larger
    /// ones).
    @usableFromInline
    static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) -> Bool {
        let status = dnnl_sgemm(
            transposeA ? 84 : 78, transposeB ? 84 : 78,  // "T" or "N"
            Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b,
            Int64(ldb), beta, c, Int64(ldc))
        return status == dnnl_success
    }

    /// Whether the caller is inside a parallel region of OpenMP's pool (one of `parallel`'s bodies).
    @usableFromInline
    static var inParallelRegion: Bool { omp_get_level() > 0 }

    /// oneDNN's matmul primitive for one shape, `c = a @ op(b)` row-major (`a` m×k, `b` k×n or, when
    /// `transposeB`, n×k, `c` m×n), made once and run for every product of that shape: for the wide
    /// products (`MatmulPrimitives`) and for weights packed once (`PackedWeights`), where `b` is
    /// copied when the primitive is made into the layout it reads fastest, as onnxruntime packs an
    /// initializer's.
    ///
    /// The primitive is made for the threads OpenMP has then and splits its work over them. It is
    /// not run inside a parallel region (where a convolution's chunks run their GEMMs, one thread
    /// each): `run` refuses there (returns false, writing nothing) and the caller multiplies with
    /// `dnnl_sgemm`, which is made for that. (oneDNN runs it on the one thread it gets there and the
    /// product came out whole when tried, but that is not relied on.)
    final class Matmul {
        let primitive: dnnl_primitive_t
        let a, b, c: dnnl_memory_t
        /// The packed copy of `b`, when it was packed.
        let packedData: UnsafeMutableRawPointer?

        /// The primitive for one shape, with `b` packed when `packing` gives it; nil when oneDNN
        /// refuses any step.
        init?(m: Int, n: Int, k: Int, transposeB: Bool, packing weights: UnsafePointer<Float>?) {
            guard let (engine, stream) = OneDNN.engineAndStream else { return nil }
            var aDesc = dnnl_memory_desc_t()
            var bDesc = dnnl_memory_desc_t()
            var chosenDesc = dnnl_memory_desc_t()
            var cDesc = dnnl_memory_desc_t()
            var desc = dnnl_matmul_desc_t()
            let bStrides = transposeB ? (1, k) : (n, 1)
            guard OneDNN.describe(&aDesc, rows: m, columns: k, strides: (k, 1)),
                OneDNN.describe(&bDesc, rows: k, columns: n, strides: bStrides),
                OneDNN.describe(&cDesc, rows: m, columns: n, strides: (n, 1)),
                // Packing: the layout oneDNN chooses for b.
                OneDNN.describe(&chosenDesc, rows: k, columns: n, strides: weights == nil ? bStrides : nil),
                dnnl_matmul_desc_init(&desc, &aDesc, &chosenDesc, nil, &cDesc) == dnnl_success
            else { return nil }
            var primitiveDesc: dnnl_primitive_desc_t?
            guard dnnl_primitive_desc_create(&primitiveDesc, &desc, nil, engine, nil) == dnnl_success,
                let primitiveDesc
            else { return nil }
            defer { dnnl_primitive_desc_destroy(primitiveDesc) }
            var primitive: dnnl_primitive_t?
            var a: dnnl_memory_t?
            var b: dnnl_memory_t?
            var c: dnnl_memory_t?
            guard dnnl_primitive_create(&primitive, primitiveDesc) == dnnl_success, let primitive else { return nil }
            var packedData: UnsafeMutableRawPointer?
            var ready =
                dnnl_memory_create(&a, &aDesc, engine, nil) == dnnl_success
                && dnnl_memory_create(&c, &cDesc, engine, nil) == dnnl_success
            if let weights, ready, let packedDesc = dnnl_primitive_desc_query_md(primitiveDesc, dnnl_query_weights_md, 0) {
                chosenDesc = packedDesc.pointee
                let data = UnsafeMutableRawPointer.allocate(
                    byteCount: max(dnnl_memory_desc_get_size(&chosenDesc), 64), alignment: 64)
                packedData = data
                var source: dnnl_memory_t?
                ready =
                    dnnl_memory_create(&b, &chosenDesc, engine, data) == dnnl_success
                    && dnnl_memory_create(&source, &bDesc, engine, UnsafeMutableRawPointer(mutating: weights))
                        == dnnl_success
                if let source, let b, ready {
                    ready = OneDNN.reorder(source, &bDesc, into: b, &chosenDesc, engine: engine, stream: stream)
                }
                if let source { dnnl_memory_destroy(source) }
            } else if ready {
                ready = weights == nil && dnnl_memory_create(&b, &bDesc, engine, nil) == dnnl_success
            }
            guard ready, let a, let b, let c else {
                for handle in [a, b, c] { if let handle { dnnl_memory_destroy(handle) } }
                dnnl_primitive_destroy(primitive)
                packedData?.deallocate()
                return nil
            }
            (self.primitive, self.a, self.b, self.c, self.packedData) = (primitive, a, b, c, packedData)
        }

        /// `c = a @ op(b)`, with `b` nil when it was packed; false, having written nothing, inside a
        /// parallel region or when oneDNN fails.
        func run(a pa: UnsafePointer<Float>, b pb: UnsafePointer<Float>?, c pc: UnsafeMutablePointer<Float>) -> Bool {
            guard !OneDNN.inParallelRegion, let (_, stream) = OneDNN.engineAndStream,
                (pb == nil) == (packedData != nil),
                dnnl_memory_set_data_handle(a, UnsafeMutableRawPointer(mutating: pa)) == dnnl_success,
                dnnl_memory_set_data_handle(c, UnsafeMutableRawPointer(pc)) == dnnl_success
            else { return false }
            if let pb, dnnl_memory_set_data_handle(b, UnsafeMutableRawPointer(mutating: pb)) != dnnl_success {
                return false
            }
            var arguments = [
                dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: a),
                dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: b),
                dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: c),
            ]
            return dnnl_primitive_execute(primitive, stream, 3, &arguments) == dnnl_success
                && dnnl_stream_wait(stream) == dnnl_success
        }

        deinit {
            for handle in [a, b, c] { dnnl_memory_destroy(handle) }
            dnnl_primitive_destroy(primitive)
            packedData?.deallocate()
        }
    }

    /// The engine and stream the matmul primitives run on; nil when oneDNN cannot make them.
    nonisolated(unsafe) static let engineAndStream: (engine: dnnl_engine_t, stream: dnnl_stream_t)? = {
        var engine: dnnl_engine_t?
        var stream: dnnl_stream_t?
        guard dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success, let engine,
            dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue) == dnnl_success, let stream
        else { return nil }
        return (engine, stream)
    }()

    /// A two-dimensional float32 memory description with the given strides, or the layout oneDNN
    /// chooses (`strides` nil); false when oneDNN refuses it.
    static func describe(_ desc: inout dnnl_memory_desc_t, rows: Int, columns: Int, strides: (Int, Int)?) -> Bool {
        var dims = dnnl_dims_t(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        (dims.0, dims.1) = (Int64(rows), Int64(columns))
        var steps = dnnl_dims_t(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        if let strides { (steps.0, steps.1) = (Int64(strides.0), Int64(strides.1)) }
        return withUnsafePointer(to: dims) { dims in
            withUnsafePointer(to: steps) { steps in
                dims.withMemoryRebound(to: Int64.self, capacity: 12) { dims in
                    steps.withMemoryRebound(to: Int64.self, capacity: 12) { steps in
                        strides == nil
                            ? dnnl_memory_desc_init_by_tag(&desc, 2, dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success
                            : dnnl_memory_desc_init_by_strides(&desc, 2, dims, dnnl_f32, steps) == dnnl_success
                    }
                }
            }
        }
    }

    /// Copies `source` into `destination`'s layout; false when oneDNN refuses.
    static func reorder(
        _ source: dnnl_memory_t, _ sourceDesc: inout dnnl_memory_desc_t, into destination: dnnl_memory_t,
        _ destinationDesc: inout dnnl_memory_desc_t, engine: dnnl_engine_t, stream: dnnl_stream_t
    ) -> Bool {
        var desc: dnnl_primitive_desc_t?
        guard dnnl_reorder_primitive_desc_create(&desc, &sourceDesc, engine, &destinationDesc, engine, nil) == dnnl_success,
            let desc
        else { return false }
        defer { dnnl_primitive_desc_destroy(desc) }
        var primitive: dnnl_primitive_t?
        guard dnnl_primitive_create(&primitive, desc) == dnnl_success, let primitive else { return false }
        defer { dnnl_primitive_destroy(primitive) }
        var arguments = [
            dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: source),
            dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: destination),
        ]
        return dnnl_primitive_execute(primitive, stream, 2, &arguments) == dnnl_success
            && dnnl_stream_wait(stream) == dnnl_success
    }

    /// Runs `body(thread, threads)` once on each of `threads` threads of OpenMP's pool (the calling
    /// thread is thread 0) and returns when all have finished.
    @usableFromInline
    static func parallel(threads: Int, _ body: (Int, Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            var context = body
            withUnsafeMutablePointer(to: &context) { pointer in
                GOMP_parallel(
                    { raw in
                        guard let raw else { return }
                        let body = raw.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee
                        body(Int(omp_get_thread_num()), Int(omp_get_num_threads()))
                    }, UnsafeMutableRawPointer(pointer), UInt32(threads), 0)
            }
        }
    }

    static var threadCount: Int {
        get { Int(omp_get_max_threads()) }
        set { omp_set_num_threads(Int32(newValue)) }
    }

    /// oneDNN's version, as "2.6.3".
    static var version: String {
        guard let v = dnnl_version() else { return "unknown" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.patch)"
    }
}
