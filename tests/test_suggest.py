from cnn.suggest import unknown


def test_names_the_closest_known_name_then_all_of_them():
    assert unknown("model", "resnt50", ["vgg16", "resnet50", "resnet34"]) == (
        "unknown model 'resnt50'. Did you mean 'resnet50'? Known models: resnet34, resnet50, vgg16")


def test_no_hint_when_nothing_is_close_and_case_is_forgiven():
    assert unknown("optimizer", "lbfgs", ["sgd", "adam"]) == "unknown optimizer 'lbfgs'. Known optimizers: adam, sgd"
    assert "Did you mean 'lenet5'?" in unknown("model", "LeNet5", ["lenet5"])
