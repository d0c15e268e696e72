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
void retort_col2im(const float *cols, long channels, const retort_window *w, float *image, long row_stride);

/// Max pooling over 2x2 windows, stride 2, no padding, for the planes [first, last) of x (planes of
/// height x width, output planes of (height / 2) x (width / 2)). The largest of the four wins, the
/// first of equal values, and a NaN always (the last NaN of the window). When argmax is not NULL it
/// receives each winner's flat offset in x.
void retort_max_pool_2x2(const float *x, long first, long last, long height, long width, float *out, int32_t *argmax);

#endif
