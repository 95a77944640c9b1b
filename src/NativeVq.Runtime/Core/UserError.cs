namespace NativeVq;

/// <summary>
/// A problem with the user's input (a file, an option, data). The CLI prints only its message — one line that
/// names the file or option and what was expected — and exits non-zero, with no stack trace.
/// </summary>
public class UserError(string message, Exception? inner = null) : Exception(message, inner);
