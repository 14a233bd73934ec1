//! A component that targets some other world, not `tributary:connector`: the host's
//! loader must refuse it with a message that says so.

wit_bindgen::generate!({
    inline: "
        package other:thing@1.0.0;

        world thing {
            export run: func() -> string;
        }
    ",
    world: "thing",
});

struct Thing;

impl Guest for Thing {
    fn run() -> String {
        "I am not a Tributary connector".into()
    }
}

export!(Thing);
