namespace Smp.Protocol.Smp;

/// <summary>Which side of a queue a command comes from (smp-wire.md §4).</summary>
public enum SmpParty
{
    Recipient = 1,
    Sender = 2,
    Broker = 3,
}

/// <summary>Command and response keywords. Numeric values are frozen.</summary>
public enum SmpCommandKind
{
    New = 1,
    Sub = 2,
    Key = 3,
    Ack = 4,
    Off = 5,
    Del = 6,
    Send = 7,
    Ping = 8,
    Ids = 9,
    Msg = 10,
    End = 11,
    Ok = 12,
    Err = 13,
    Pong = 14,
}

/// <summary>One SMP command or response (smp-wire.md §4). Keys are DER SubjectPublicKeyInfo bytes.</summary>
public abstract record SmpCommand(SmpCommandKind Kind)
{
    public SmpParty Party => Kind switch
    {
        SmpCommandKind.New or SmpCommandKind.Sub or SmpCommandKind.Key or SmpCommandKind.Ack
            or SmpCommandKind.Off or SmpCommandKind.Del => SmpParty.Recipient,
        SmpCommandKind.Send or SmpCommandKind.Ping => SmpParty.Sender,
        _ => SmpParty.Broker,
    };

    public sealed record New(byte[] RecipientKey) : SmpCommand(SmpCommandKind.New);
    public sealed record Sub() : SmpCommand(SmpCommandKind.Sub);
    public sealed record Key(byte[] SenderKey) : SmpCommand(SmpCommandKind.Key);
    public sealed record Ack() : SmpCommand(SmpCommandKind.Ack);
    public sealed record Off() : SmpCommand(SmpCommandKind.Off);
    public sealed record Del() : SmpCommand(SmpCommandKind.Del);
    public sealed record Send(ReadOnlyMemory<byte> Body) : SmpCommand(SmpCommandKind.Send);
    public sealed record Ping() : SmpCommand(SmpCommandKind.Ping);
    public sealed record Ids(byte[] RecipientId, byte[] SenderId) : SmpCommand(SmpCommandKind.Ids);
    public sealed record Msg(byte[] MsgId, DateTimeOffset Timestamp, ReadOnlyMemory<byte> Body) : SmpCommand(SmpCommandKind.Msg);
    public sealed record End() : SmpCommand(SmpCommandKind.End);
    public sealed record Ok() : SmpCommand(SmpCommandKind.Ok);
    public sealed record Err(SmpErrorCode Error) : SmpCommand(SmpCommandKind.Err);
    public sealed record Pong() : SmpCommand(SmpCommandKind.Pong);

    public static readonly SmpCommand OkResponse = new Ok();
    public static readonly SmpCommand EndResponse = new End();
    public static readonly SmpCommand PongResponse = new Pong();
    public static readonly SmpCommand SubCommand = new Sub();
    public static readonly SmpCommand AckCommand = new Ack();
    public static readonly SmpCommand OffCommand = new Off();
    public static readonly SmpCommand DelCommand = new Del();
    public static readonly SmpCommand PingCommand = new Ping();
}
