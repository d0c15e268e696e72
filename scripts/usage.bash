# Sourced first by each bench/ and scripts/ command a person runs: -h or --help prints the
# command's header comment, which is its usage, and exits before anything is built or installed.
# `bench_threads VALUE`: VALUE as a thread count, or an error that names it.
for usage_argument in "$@"; do
    case "$usage_argument" in
        -h | --help)
            sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
            exit 0
            ;;
    esac
done
unset usage_argument

bench_threads() {
    if ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
        echo "${0#./}: a thread count must be a whole number, at least 1 (got '$1')" >&2
        exit 64
    fi
    echo "$1"
}
