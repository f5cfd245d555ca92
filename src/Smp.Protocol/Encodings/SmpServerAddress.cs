using System.Globalization;
using System.Text;

namespace Smp.Protocol.Encodings;

/// <summary>
/// A server address, <c>host[:port][#b64 keyHash]</c> (smp-wire.md §6). The key hash is the SHA-256
/// of the server's DER public key; a client that has it refuses any other server key.
/// </summary>
public sealed record SmpServerAddress(string Host, int? Port, byte[]? KeyHash)
{
    public const int DefaultPort = 5223;
    public const int MaxLength = 512;

    public int EffectivePort => Port ?? DefaultPort;

    /// <summary><c>host:port</c> with the port always given: how logs name a server.</summary>
    public string Endpoint => string.Create(CultureInfo.InvariantCulture, $"{Host}:{EffectivePort}");

    public bool Equals(SmpServerAddress? other) =>
        other is not null && Host == other.Host && Port == other.Port &&
        (KeyHash is null ? other.KeyHash is null : other.KeyHash is not null && KeyHash.AsSpan().SequenceEqual(other.KeyHash));

    public override int GetHashCode() => HashCode.Combine(Host, Port, KeyHash is null ? 0 : KeyHash.Length);

    public override string ToString()
    {
        var sb = new StringBuilder(Host);
        if (Port is { } p) sb.Append(':').Append(p.ToString(CultureInfo.InvariantCulture));
        if (KeyHash is not null) sb.Append('#').Append(Convert.ToBase64String(KeyHash));
        return sb.ToString();
    }

    /// <summary>Host part characters: anything printable except the separators of the enclosing grammars.</summary>
    private static bool IsHostChar(char c) => c > ' ' && c < 0x7f && c != ':' && c != '#' && c != '/';

    public static bool TryParse(ReadOnlySpan<char> text, out SmpServerAddress? address)
    {
        address = null;
        if (text.IsEmpty || text.Length > MaxLength) return false;
        byte[]? hash = null;
        var hashAt = text.IndexOf('#');
        if (hashAt >= 0)
        {
            if (!B64.TryDecode(Encoding.ASCII.GetBytes(text[(hashAt + 1)..].ToString()), out var h) || h.Length == 0) return false;
            hash = h;
            text = text[..hashAt];
        }
        int? port = null;
        var colon = text.IndexOf(':');
        if (colon >= 0)
        {
            var portText = text[(colon + 1)..];
            if (portText.IsEmpty || portText.Length > 5) return false;
            foreach (var c in portText) if (c is < '0' or > '9') return false;
            var p = int.Parse(portText, NumberStyles.None, CultureInfo.InvariantCulture);
            if (p is < 1 or > 65535) return false;
            port = p;
            text = text[..colon];
        }
        if (text.IsEmpty) return false;
        foreach (var c in text) if (!IsHostChar(c)) return false;
        address = new SmpServerAddress(text.ToString(), port, hash);
        return true;
    }

    public static SmpServerAddress Parse(string text) =>
        TryParse(text, out var a) ? a! : throw new FormatException($"not a server address: {text}");
}
