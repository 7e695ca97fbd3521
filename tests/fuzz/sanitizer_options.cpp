// The UBSan options of the libFuzzer executables (not of the replay test, which the
// ordinary builds run with their own options). A finding must stop the run, so libFuzzer
// keeps the input; the findings in third-party code that ubsan.supp lists are not ours to fix.
// (Suppressions need recoverable checks: hence halt_on_error rather than
// -fno-sanitize-recover.)
extern "C" const char* __ubsan_default_options();
extern "C" const char* __ubsan_default_options() {
    return "halt_on_error=1:print_stacktrace=1:suppressions=" RTCRM_FUZZ_DIR "/ubsan.supp";
}
