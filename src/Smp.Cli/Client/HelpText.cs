namespace Smp.Cli.Client;

/// <summary>What /help prints; docs/client.md says the same at more length.</summary>
internal static class HelpText
{
    public static readonly string[] Lines =
    [
        "Contacts:",
        "  /invite <name>                make an invitation for a new contact called <name>; give it to them",
        "  /accept <name> <invitation>   connect to whoever gave you <invitation>, calling them <name>",
        "  @<name> <text>                send a message (also /send <name> <text>)",
        "  /off <name>                   stop <name> sending to you;  /delete <name>  forget the contact",
        "Groups:",
        "  /group <group> [description]  create a group",
        "  /add <group> <contact>        invite a contact into a group",
        "  /join <invitation-id> [group] accept a group invitation (the id is shown with it)",
        "  /reject <contact> <inv-id>    decline a group invitation from <contact>",
        "  #<group> <text>               send to the group (also /gsend <group> <text>)",
        "  /members <group>              list the members: + still in, - left or removed",
        "  /name [name]                  your name for groups you create or join next (/name - sends none)",
        "  /myname <group> [name]        your name in a group you are in already (told to every member)",
        "  /rename <member> [name]       your own name for a member, shown instead of theirs (no name: undo)",
        "  /leave <group>   /remove <group> <contact>   /delgroup <group>",
        "Agent:",
        "  /sub <name>   /suball         receive a contact's or group's events here (done on every connect)",
        "  !<alias> <COMMAND>            send one raw protocol command, e.g. !bob SEND :hi  or  ! NEW",
        "                                (':text' bodies only; the answer is shown as protocol text)",
        "  /wire on|off                  show every transmission sent (>) and received (<)",
        "  /help   /quit                 (end of input quits too)",
        "Names: 1-64 of letters, digits, _ - . = + /",
    ];
}
