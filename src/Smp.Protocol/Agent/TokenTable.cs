namespace Smp.Protocol.Agent;

/// <summary>A frozen two-way map between enum values and their wire tokens.</summary>
internal sealed class TokenTable<T>(params (T Value, byte[] Token)[] entries) where T : struct, Enum
{
    public ReadOnlySpan<byte> Token(T value)
    {
        foreach (var (v, t) in entries) if (EqualityComparer<T>.Default.Equals(v, value)) return t;
        throw new ArgumentOutOfRangeException(nameof(value));
    }

    public bool TryParse(ReadOnlySpan<byte> token, out T value)
    {
        foreach (var (v, t) in entries)
        {
            if (token.SequenceEqual(t))
            {
                value = v;
                return true;
            }
        }
        value = default;
        return false;
    }

    /// <summary>The entry whose token is the longest prefix of <paramref name="text"/> followed by SP or the end.</summary>
    public bool TryParsePrefix(ReadOnlySpan<byte> text, out T value, out int length)
    {
        value = default;
        length = -1;
        foreach (var (v, t) in entries)
        {
            if (t.Length > length && text.StartsWith(t) && (text.Length == t.Length || text[t.Length] == (byte)' '))
            {
                value = v;
                length = t.Length;
            }
        }
        return length >= 0;
    }
}
