#ifndef RETORT_DATA_H
#define RETORT_DATA_H

/// The UCI optical-digits set (1,797 8x8 images, 10 classes) as gzipped CSV: 64 pixels 0..16, then the label.
const unsigned char *retort_digits_csv_gz(void);
unsigned long retort_digits_csv_gz_length(void);

/// The 2017 US first names (29,910, lowercase a-z) as gzipped text, one per line, most common first.
const unsigned char *retort_names_txt_gz(void);
unsigned long retort_names_txt_gz_length(void);

#endif
