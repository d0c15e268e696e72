#ifndef RETORT_IMAGE_H
#define RETORT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/// A window sliding over one image plane: kernel, stride, padding, input and output sizes.
typedef struct {
    long kernel_height, kernel_width, stride, padding;
    long input_height, input_width, output_height, output_width;
} retort_window;

/// Unfolds one image [channels, input_height, input_width] into the rows of a column matrix: row
/// (c, ky, kx) holds the output positions' taps, output_height * output_width values starting at
/// cols + row * row_stride; taps on padding are 0.
void retort_im2col(const float *image, long channels, const retort_window *w, float *cols, long row_stride);

/// The adjoint of retort_im2col: adds each column entry into the image position it was taken from.
/// With avx512 (the caller checks the CPU has it), stride 1 goes an image row at a time in a
/// register: the same sums.
void retort_col2im(const float *cols, long channels, const retort_window *w, float *image, long row_stride,
                   int avx512);

/// dst[0..<count] = src[0..<count], each value also added into one of 16 running sums, value i into
/// sums[i % 16]: a total in a fixed order that vectorises, where one running sum is a chain of
/// dependent adds. With relu_output (not NULL), ReLU's backward first: 0 where relu_output[i] <= 0
/// (what relu_output <= 0 means for its input: x <= 0; a NaN passes its gradient, as in PyTorch).
void retort_copy_summing(const float *src, const float *relu_output, float *dst, long count, float *sums);

/// Max pooling over 2x2 windows, stride 2, no padding, for the planes [first, last) of x (planes of
/// height x width, output planes of (height / 2) x (width / 2)). The largest of the four wins, the
/// first of equal values, and a NaN always (the last NaN of the window). When argmax is not NULL it
/// receives each winner's flat offset in x.
void retort_max_pool_2x2(const float *x, long first, long last, long height, long width, float *out, int32_t *argmax);

/// image [channels, area] transposed to [area, channels] in out: channels last.
void retort_to_channels_last(const float *image, long channels, long area, float *out);

/// image [channels, height, width] channels last with `padding` zeros around: [height + 2 * padding,
/// width + 2 * padding, channels] in out.
void retort_to_channels_last_padded(const float *image, long channels, long height, long width, long padding,
                                    float *out);

/// x [height * width, channels] (channels last) with each channel's bias added and ReLU when relu is not 0, into
/// the padded channels-last image out [height + 2 * padding, width + 2 * padding, channels], zeros around: a
/// convolution's output handed to the next convolution without going back to channels first.
void retort_finish_channels_last_padded(const float *x, long height, long width, long channels, const float *bias,
                                        int relu, long padding, float *out);

/// A convolution by `w` of one padded channels-last image [input_height + 2 * padding, padded_width,
/// channels] (padding already in it), with AVX-512 (the caller checks the CPU has it): out
/// [output_height * output_width, out_channels] channels last. weights [kernel_height * kernel_width *
/// channels, out_channels rounded up to 16] in (ky, kx, c) order, the columns past out_channels 0.
/// Each sum adds its taps in that order.
void retort_convolve_channels_last_avx512(const float *image, long channels, long padded_width,
                                          const retort_window *w, const float *weights, float *out,
                                          long out_channels);

/// retort_convolve_channels_last_avx512 for at most 16 taps (kernel_height * kernel_width * channels)
/// and output rows at least 14 wide: the same sums, each tap's weights held in a register (other
/// windows go to retort_convolve_channels_last_avx512).
void retort_convolve_few_taps_avx512(const float *image, long channels, long padded_width, const retort_window *w,
                                     const float *weights, float *out, long out_channels);

/// retort_convolve_channels_last_avx512 with AVX2 and FMA (the caller checks the CPU has them), for
/// CPUs without AVX-512: the same arguments and the same sums in the same order, so the same values.
void retort_convolve_channels_last_avx2(const float *image, long channels, long padded_width,
                                        const retort_window *w, const float *weights, float *out,
                                        long out_channels);

/// retort_convolve_few_taps_avx512 with AVX2 and FMA, for at most 9 taps (other windows go to
/// retort_convolve_channels_last_avx2): the same sums, the same values.
void retort_convolve_few_taps_avx2(const float *image, long channels, long padded_width, const retort_window *w,
                                   const float *weights, float *out, long out_channels);

/// x [area, channels] transposed to [channels, area] in out, each channel's bias added (bias not
/// NULL), then ReLU when relu is not 0 (negatives to 0; NaN and -0 kept).
void retort_to_channels_first(const float *x, long area, long channels, const float *bias, int relu, float *out);

/// Unfolds one channels-last image [input_height, input_width, channels] into cols, one row per
/// output position (row-major over the output), its kernel_height * kernel_width * channels taps
/// in (ky, kx, c) order; taps on padding are 0.
void retort_im2col_channels_last(const float *image, long channels, const retort_window *w, float *cols);

/// retort_max_pool_2x2 on channels-last images [images, height, width, channels] into
/// [images, height / 2, width / 2, channels]: the same taps in the same order, so the same winners.
void retort_max_pool_2x2_channels_last(const float *x, long images, long height, long width, long channels,
                                       float *out);

/// One channels-last image [height, width, channels] pooled as retort_max_pool_2x2_channels_last
/// pools it, then each channel's bias added (bias not NULL) and ReLU when relu is not 0, into the
/// padded image out [height / 2 + 2 * padding, width / 2 + 2 * padding, channels], zeros around: that
/// pool and retort_finish_channels_last_padded in one pass, the same values.
void retort_pool_finish_channels_last_padded(const float *x, long height, long width, long channels,
                                             const float *bias, int relu, long padding, float *out);

#endif
