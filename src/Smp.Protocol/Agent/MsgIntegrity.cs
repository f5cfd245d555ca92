using System.Buffers;
using System.Text;

namespace Smp.Protocol.Agent;

/// <summary>Outcomes of the integrity check (agent.md §2). Values are frozen: they are stored with received messages.</summary>
public enum MsgIntegrityKind
{
    Ok = 1,
    /// <summary>An id lower than the last one: an old message replayed or reordered.</summary>
    Id = 2,
    /// <summary>The same id as the last one.</summary>
    Duplicate = 3,
    /// <summary>Ids were skipped: messages From..To are missing.</summary>
    NoId = 4,
    /// <summary>The next id, but the hash of the previous message does not match.</summary>
    Hash = 5,
}

/// <summary>
/// The result of checking a received message against the chain of the messages before it, used for the
/// MSG envelopes of a connection and for each author's G_MSG sequence in a group. Wire text:
/// <code>
/// integrity = "OK" / "ERR" SP ("ID" SP id / "DUPLICATE" / "NO_ID" SP fromId SP toId / "HASH")
/// id, fromId, toId = 1*18DIGIT
/// </code>
/// </summary>
public readonly record struct MsgIntegrity
{
    private const int MaxDigits = 18;

    private MsgIntegrity(MsgIntegrityKind kind, long from, long to)
    {
        Kind = kind;
        From = from;
        To = to;
    }

    public MsgIntegrityKind Kind { get; }

    /// <summary>For <see cref="MsgIntegrityKind.NoId"/> the first missing id; for <see cref="MsgIntegrityKind.Id"/> the received id.</summary>
    public long From { get; }

    /// <summary>For <see cref="MsgIntegrityKind.NoId"/> the last missing id; for <see cref="MsgIntegrityKind.Id"/> the received id.</summary>
    public long To { get; }

    public bool IsOk => Kind == MsgIntegrityKind.Ok;

    public static MsgIntegrity Ok => new(MsgIntegrityKind.Ok, 0, 0);
    public static MsgIntegrity Duplicate => new(MsgIntegrityKind.Duplicate, 0, 0);
    public static MsgIntegrity Hash => new(MsgIntegrityKind.Hash, 0, 0);
    public static MsgIntegrity Id(long receivedId) => new(MsgIntegrityKind.Id, receivedId, receivedId);
    public static MsgIntegrity NoId(long from, long to) => new(MsgIntegrityKind.NoId, from, to);

    /// <summary>
    /// Checks a received (id, hash of the previous message) against the last id received and the hash of the
    /// last message received, in the reference's order: next id with matching hash is OK; a lower id is ID;
    /// the same id DUPLICATE; a gap NO_ID (the missing range); the next id with another hash HASH.
    /// </summary>
    public static MsgIntegrity Check(long prevExternalId, ReadOnlySpan<byte> prevHash, long receivedId, ReadOnlySpan<byte> receivedPrevHash)
    {
        if (receivedId == prevExternalId + 1) return prevHash.SequenceEqual(receivedPrevHash) ? Ok : Hash;
        if (receivedId < prevExternalId) return Id(receivedId);
        if (receivedId == prevExternalId) return Duplicate;
        return NoId(prevExternalId + 1, receivedId - 1);
    }

    public void Write(IBufferWriter<byte> w)
    {
        switch (Kind)
        {
            case MsgIntegrityKind.Ok: w.Write("OK"u8); break;
            case MsgIntegrityKind.Id: w.Write("ERR ID "u8); WireText.WriteDecimal(w, From); break;
            case MsgIntegrityKind.Duplicate: w.Write("ERR DUPLICATE"u8); break;
            case MsgIntegrityKind.NoId:
                w.Write("ERR NO_ID "u8);
                WireText.WriteDecimal(w, From);
                WireText.Sp(w);
                WireText.WriteDecimal(w, To);
                break;
            case MsgIntegrityKind.Hash: w.Write("ERR HASH"u8); break;
            default: throw new InvalidOperationException("uninitialised integrity");
        }
    }

    public override string ToString()
    {
        if (Kind == 0) return "";
        var w = new ArrayBufferWriter<byte>(32);
        Write(w);
        return Encoding.ASCII.GetString(w.WrittenSpan);
    }

    /// <summary>
    /// Parses an integrity at the start of <paramref name="text"/>; it must end there or at a SP.
    /// <paramref name="consumed"/> is its length.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out MsgIntegrity integrity, out int consumed)
    {
        integrity = default;
        consumed = 0;
        var r = new WireReader(text, AgentErrorCode.CmdSyntax);
        try
        {
            if (r.Keyword("OK"u8)) integrity = Ok;
            else if (r.Keyword("ERR"u8))
            {
                r.Sp();
                if (r.Keyword("ID"u8)) { r.Sp(); integrity = Id(r.Decimal(MaxDigits)); }
                else if (r.Keyword("DUPLICATE"u8)) integrity = Duplicate;
                else if (r.Keyword("NO_ID"u8))
                {
                    r.Sp();
                    var from = r.Decimal(MaxDigits);
                    r.Sp();
                    integrity = NoId(from, r.Decimal(MaxDigits));
                }
                else if (r.Keyword("HASH"u8)) integrity = Hash;
                else return false;
            }
            else return false;
        }
        catch (AgentProtocolException)
        {
            return false;
        }
        if (!r.AtEnd && r.Rest[0] != (byte)' ') return false;
        consumed = r.Position;
        return true;
    }

    public static bool TryParse(string text, out MsgIntegrity integrity) =>
        TryParse(Encoding.ASCII.GetBytes(text), out integrity, out var n) && n == text.Length;
}
