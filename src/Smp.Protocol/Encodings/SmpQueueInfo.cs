using System.Text;

namespace Smp.Protocol.Encodings;

/// <summary>
/// The out-of-band invitation to send to a queue: <c>smp::&lt;server&gt;::&lt;b64 SID&gt;::rsa:&lt;b64 key&gt;</c>
/// (smp-wire.md §6), where the key is the recipient's end-to-end encryption key.
/// </summary>
public sealed record SmpQueueInfo(SmpServerAddress Server, byte[] SenderId, byte[] EncryptionKey)
{
    public const int MaxLength = 2048;

    public override string ToString() =>
        $"smp::{Server}::{Convert.ToBase64String(SenderId)}::{PublicKeyText.Format(EncryptionKey)}";

    public byte[] ToBytes() => Encoding.ASCII.GetBytes(ToString());

    public bool Equals(SmpQueueInfo? other) =>
        other is not null && Server.Equals(other.Server) && SenderId.AsSpan().SequenceEqual(other.SenderId) &&
        EncryptionKey.AsSpan().SequenceEqual(other.EncryptionKey);

    public override int GetHashCode() => HashCode.Combine(Server, SenderId.Length, EncryptionKey.Length);

    public static bool TryParse(ReadOnlySpan<byte> text, out SmpQueueInfo? info)
    {
        info = null;
        if (text.Length > MaxLength || !text.StartsWith("smp::"u8)) return false;
        var rest = text[5..];
        var i = rest.IndexOf("::"u8);
        if (i <= 0) return false;
        var serverText = rest[..i];
        rest = rest[(i + 2)..];
        var j = rest.IndexOf("::"u8);
        if (j <= 0) return false;
        if (!B64.TryDecode(rest[..j], out var sid) || sid.Length == 0) return false;
        if (!PublicKeyText.TryParseDer(rest[(j + 2)..], out var key)) return false;
        foreach (var b in serverText) if (b is < 0x21 or > 0x7e) return false;
        if (!SmpServerAddress.TryParse(Encoding.ASCII.GetString(serverText), out var server)) return false;
        info = new SmpQueueInfo(server!, sid, key);
        return true;
    }

    public static bool TryParse(string text, out SmpQueueInfo? info) => TryParse(Encoding.ASCII.GetBytes(text), out info);
}
