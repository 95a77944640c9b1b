using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace NativeVq.Serve;

/// <summary>
/// Bearer-token check for every path but the probes (/healthz, /readyz: orchestrators call them without secrets).
/// The comparison is constant-time: both sides are hashed to 32 bytes first, so neither the content nor the length
/// of the expected token leaks through timing.
/// </summary>
public sealed class BearerAuth(string token)
{
    private readonly byte[] _expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));

    public static bool IsOpen(PathString path) => path.Equals("/healthz", StringComparison.Ordinal) || path.Equals("/readyz", StringComparison.Ordinal);

    public bool Allows(HttpRequest request)
    {
        string? header = request.Headers.Authorization;
        const string scheme = "Bearer ";
        if (header is null || !header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(given, _expected);
    }

    /// <summary>The token from a file: its content with surrounding whitespace (a trailing newline) removed.</summary>
    public static string ReadTokenFile(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UserError($"--token-file {path}: cannot read it ({e.Message})"); }
        var token = text.Trim();
        if (token.Length == 0) throw new UserError($"--token-file {path}: the file is empty; put the bearer token in it");
        if (token.Any(char.IsWhiteSpace)) throw new UserError($"--token-file {path}: the token contains whitespace; a bearer token is one word");
        return token;
    }
}
